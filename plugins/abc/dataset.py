"""ABC music corpora as character streams: tunes, splits by tune, a character vocabulary, stream batches.

The ``abc`` dataset reads tunes from a file or folder (``dataset.path``), from URLs (``dataset.urls``,
downloaded once into the data directory) or, by default, the 32 movements of Bach's Goldberg
Variations. Tunes are split into train/val/test whole, never inside a tune:

- ``split=random``: seeded fractions of the tunes (``val_fraction``, ``test_fraction``,
  ``split_seed``); near-duplicate tunes are grouped and each group goes to one split;
- ``split=fixed``: the tunes named in ``val_tunes`` and ``test_tunes`` are held out, the rest train.
  A name matches a tune whose file stem is the name or starts with it followed by a separator
  (``variation-23`` matches ``variation-23-bwv-988``, not ``variation-230``), or whose title is the
  name (case is ignored); a name that matches several tunes selects them all. A held-out tune that
  shares most of its text with a training tune raises a warning naming both.

Two tunes are near-duplicates when the larger of the two fractions "distinct n-grams of one found in
the other" reaches ``near_duplicate_threshold``. With 20-character n-grams the aria and the aria da
capo of the Goldberg Variations share 0.73 (and 0.61 the other way); no two distinct movements
share more than 0.11, so the default threshold of 0.5 separates them with room on both sides.

Each split's tunes are joined (each followed by a blank line) into one text, encoded with the
vocabulary built from the training text (characters by frequency, then by character) and cut into
``batch_size`` parallel streams; consecutive batches continue every stream, so the model's state
carries over. ``resample_tunes=N`` trains instead on a stream of N tunes drawn with replacement
from the training tunes, redrawn every epoch.

With ``bar_clock`` every character comes with how much of its bar is left (:mod:`seqkit.plugins.abc.bar_clock`), a
context the model can read beside the text (``DataSpec.context_size``); the sample format's
``context_tracker`` computes the same count while the sampler draws.

Validation and test read whole tunes (``eval_by_tune``): each held-out tune starts a stream at its
``X:`` line, so no character is scored cold in the middle of a tune. Cutting a 15,000-character split
into 32 streams instead scores 32 characters with no context at all and hundreds with little; on the
Goldberg test movements that alone adds about 0.04 bits per character.

Tunes are read and split in :mod:`seqkit.plugins.abc.corpus` and cut into batches in
:mod:`seqkit.plugins.abc.batches`; :mod:`seqkit.plugins.abc.sample_format` stores and judges samples.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from seqkit.components import SPLITS, Batch, Dataset, DataSpec, Split
from seqkit.plugins.abc.bar_clock import CLASSES, bar_clock_classes
from seqkit.plugins.abc.batches import (
    build_vocabulary,
    count_batches,
    count_tune_batches,
    join_tunes,
    joined,
    stream_batches,
    tune_stream_batches,
)
from seqkit.plugins.abc.config import AbcConfig
from seqkit.plugins.abc.corpus import (
    fixed_split,
    group_near_duplicates,
    load_tunes,
    random_split,
    shared_ngram_fractions,
    warn_on_leaks,
)
from seqkit.plugins.abc.notation import Tune


class AbcDataset(Dataset):
    """ABC tunes as character streams, split by tune (default: Bach's Goldberg Variations)."""

    def __init__(self, config: AbcConfig):
        self.config = config
        for option in ("batch_size", "seq_length", "near_duplicate_ngram"):
            if getattr(config, option) < 1:
                raise ValueError(f"dataset.{option} must be at least 1, got {getattr(config, option)}")
        if config.resample_tunes is not None and config.resample_tunes < 1:
            raise ValueError(f"dataset.resample_tunes must be at least 1 (or null), got {config.resample_tunes}")
        self.tunes = load_tunes(config)
        n, threshold = config.near_duplicate_ngram, config.near_duplicate_threshold
        fractions = shared_ngram_fractions([tune.text for tune in self.tunes], n)
        groups = group_near_duplicates(len(self.tunes), fractions, threshold)
        self.near_duplicates = [[self.tunes[i].name for i in group] for group in groups if len(group) > 1]
        if config.split == "fixed":
            indices = fixed_split(self.tunes, list(config.val_tunes), list(config.test_tunes))
            self.leaks = warn_on_leaks(self.tunes, indices, fractions, threshold, n)
        elif config.split == "random":
            indices = random_split(self.tunes, config.val_fraction, config.test_fraction, config.split_seed, groups)
            self.leaks = []
        else:
            raise ValueError(f"dataset.split must be 'random' or 'fixed', got {config.split!r}")
        self.split_tunes: dict[str, list[Tune]] = {name: [self.tunes[i] for i in indices[name]] for name in SPLITS}
        if not self.split_tunes["train"]:
            raise ValueError("the train split holds no tune; hold out fewer tunes (dataset.val_tunes/test_tunes)")
        self.texts = {name: join_tunes(tunes) for name, tunes in self.split_tunes.items()}
        self.vocabulary = build_vocabulary(self.texts["train"])
        self.unknown_counts = {name: self.vocabulary.count_unknown(text) for name, text in self.texts.items()}
        self.ids = {name: self._encode(text) for name, text in self.texts.items()}
        self.tune_ids = {
            name: [self._encode(tune.text + "\n") for tune in tunes] for name, tunes in self.split_tunes.items()
        }
        # The clock restarts at every X: line, so a joined text's classes are its tunes' classes joined.
        self.tune_contexts: dict[str, list[torch.Tensor]] | None = None
        self.contexts: dict[str, torch.Tensor] | None = None
        if config.bar_clock:
            self.tune_contexts = {
                name: [torch.tensor(bar_clock_classes(tune.text + "\n"), dtype=torch.long) for tune in tunes]
                for name, tunes in self.split_tunes.items()
            }
            self.contexts = {name: joined(classes) for name, classes in self.tune_contexts.items()}
        self.spec = DataSpec(
            input_kind="tokens",
            input_size=len(self.vocabulary),
            target_kind="tokens",
            target_size=len(self.vocabulary),
            stateful=True,
            sequence_targets=True,
            context_size=CLASSES if config.bar_clock else 0,
        )
        self._check_lengths()

    def _encode(self, text: str) -> torch.Tensor:
        return torch.tensor(self.vocabulary.encode(text), dtype=torch.long)

    def _check_lengths(self) -> None:
        for name in SPLITS:
            if self.split_tunes[name] and self.num_batches(name) == 0:
                raise ValueError(
                    f"the {name} split has {len(self.texts[name])} characters: too few to fill one batch of "
                    f"dataset.batch_size={self.config.batch_size} streams x dataset.seq_length="
                    f"{self.config.seq_length}; lower them or give the split more tunes"
                )

    @property
    def resample_length(self) -> int:
        """Characters in each epoch's resampled training stream: ``resample_tunes`` average training tunes."""
        mean = len(self.texts["train"]) / len(self.split_tunes["train"])
        return round(self.config.resample_tunes * mean)

    def resampled_tunes(self, epoch: int) -> list[int]:
        """Indices into the training tunes of one epoch's draw under ``resample_tunes`` (with replacement).

        Tunes are drawn (seeded by ``seed + epoch``) until they hold ``resample_length + 1``
        characters; the text is then cut there, so every epoch has the same number of batches.
        """
        rng = random.Random(self.config.seed + epoch)
        tunes = self.split_tunes["train"]
        drawn, length = [], 0
        while length < self.resample_length + 1:
            drawn.append(rng.randrange(len(tunes)))
            length += len(tunes[drawn[-1]].text) + 1
        return drawn

    def resampled_text(self, epoch: int) -> str:
        """The training text of one epoch under ``resample_tunes``: tunes drawn with replacement."""
        tunes = self.split_tunes["train"]
        text = "".join(tunes[i].text + "\n" for i in self.resampled_tunes(epoch))
        return text[: self.resample_length + 1]

    def stream(self, split: Split, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The text of ``split`` for ``epoch`` as one stream of ids, with its context classes when the
        dataset has a context: what the stream batches are cut from (resampled and rotated for training)."""
        contexts = self.contexts[split] if self.contexts is not None else None
        if split != "train":
            return self.ids[split], contexts
        ids = self.ids[split]
        if self.config.resample_tunes is not None:
            drawn, end = self.resampled_tunes(epoch), self.resample_length + 1
            ids = joined([self.tune_ids["train"][i] for i in drawn])[:end]
            if self.tune_contexts is not None:
                contexts = joined([self.tune_contexts["train"][i] for i in drawn])[:end]
        if self.config.random_start:
            # Its own stream, apart from the resampling's: the same start with or without resampling.
            start = random.Random(f"start-{self.config.seed}-{epoch}").randrange(len(ids))
            ids = torch.cat([ids[start:], ids[:start]])
            contexts = None if contexts is None else torch.cat([contexts[start:], contexts[:start]])
        return ids, contexts

    def batches(self, split: Split, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        """Batches of ``split``: training drops the short last batch, evaluation keeps it."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        config = self.config
        if self._by_tune(split):
            contexts = self.tune_contexts[split] if self.tune_contexts is not None else None
            return tune_stream_batches(self.tune_ids[split], config.batch_size, config.seq_length, shard, contexts)
        ids, context = self.stream(split, epoch)
        return stream_batches(ids, config.batch_size, config.seq_length, shard, split != "train", context)

    def _by_tune(self, split: Split) -> bool:
        return split != "train" and self.config.eval_by_tune

    def num_batches(self, split: Split) -> int:
        if self._by_tune(split):
            lengths = [len(tune) for tune in self.tune_ids[split]]
            return count_tune_batches(lengths, self.config.batch_size, self.config.seq_length)
        if split == "train" and self.config.resample_tunes is not None:
            length = self.resample_length + 1
        else:
            length = len(self.ids[split])
        return count_batches(length, self.config.batch_size, self.config.seq_length, keep_partial=split != "train")

    def describe(self) -> dict[str, Any]:
        """What the dataset holds: tunes and characters per split, vocabulary, unknown symbols, near-duplicates."""
        return {
            "tunes": {name: [tune.name for tune in self.split_tunes[name]] for name in SPLITS},
            "characters": {name: len(self.texts[name]) for name in SPLITS},
            "vocabulary_size": len(self.vocabulary),
            "unknown_counts": dict(self.unknown_counts),
            "near_duplicates": self.near_duplicates,
        }

    def data_files(self) -> list[Path]:
        """Every ``.abc`` file read, in reading order."""
        return list(self.tunes.files)

    def artifacts(self) -> dict[str, Any]:
        return {
            "vocabulary": self.vocabulary.to_dict(),
            "unknown_counts": dict(self.unknown_counts),
            "split_tunes": {name: [tune.name for tune in self.split_tunes[name]] for name in SPLITS},
        }
