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

With ``bar_clock`` every character comes with how much of its bar is left (``abc_bar_clock``), a
context the model can read beside the text (``DataSpec.context_size``); the sample format's
``context_tracker`` computes the same count while the sampler draws.

Validation and test read whole tunes (``eval_by_tune``): each held-out tune starts a stream at its
``X:`` line, so no character is scored cold in the middle of a tune. Cutting a 15,000-character split
into 32 streams instead scores 32 characters with no context at all and hundreds with little; on the
Goldberg test movements that alone adds about 0.04 bits per character.
"""

from __future__ import annotations

import hashlib
import random
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from seqkit import hookimpl
from seqkit.components import PADDING_TARGET, SPLITS, Batch, Dataset, DataSpec, SampleFormat, Split, Vocabulary
from seqkit.datafiles import fetch
from seqkit.hookspecs import RegisterComponent
from seqkit.plugins.abc_bar_clock import CLASSES, BarClock, bar_clock_classes
from seqkit.plugins.abc_check import report_text
from seqkit.plugins.abc_midi import MIDI_EXTRA, export_midi, midi_available
from seqkit.plugins.abc_notation import Tune, read_tunes

GOLDBERG_URL = (
    "https://raw.githubusercontent.com/gsantam/infinite-goldberg-variations/"
    "ba14701dd8b2984504b8b69d0ab71a29415f15ed/data/processed/goldberg/"
)
#: The Goldberg movements in playing order: file name -> sha256.
GOLDBERG_MOVEMENTS: dict[str, str] = {
    "aria-bwv-988.abc": "ddafd1c1b54f545ed869e605179e23594940e1cc81edc2df68f9f46a555b63ec",
    "variation-01-bwv-988.abc": "6ee0955e57e7249d4d6ea010d246085d82bce39dc02c409d86ae63bd94e5a064",
    "variation-02-bwv-988.abc": "7830849f84b99fdf8d2b2374015c659ea279537827cfb631b63101686eb69ea8",
    "variation-03-bwv-988.abc": "2be4a8bacde8a5915b3c285b89647257b3058466a7f1f73e7a8adbbec7837d5e",
    "variation-04-bwv-988.abc": "2d063946609006bf3f3597abc5c6d39d2f23a1cd8f25970230688b98fa590b92",
    "variation-05-bwv-988.abc": "b2976928e1de2f75a49254f81e50e773fee52ed80ec6d60ffec16a901b0869bb",
    "variation-06-bwv-988.abc": "2859f9c64797badab808349411b183b15976614cb4a3be5886a6c6d0ff2c4172",
    "variation-07-bwv-988.abc": "1a1c796060ef9fe4378b9325ccf53b62d562ee379e6353756c25dd4821c3a1ae",
    "variation-08-bwv-988.abc": "67d00f48babbc880e7f057fd01a5265105911bf84144394aa06ef7cf47177d33",
    "variation-09-bwv-988.abc": "e4dac28d7e1f97873723bb7361837554719427cf51c2d061011b0672d23db12f",
    "variation-10-bwv-988.abc": "747f01ebc2860bf063dea30018703282be95f3ecb023b311cfe127d0301fc49d",
    "variation-11-bwv-988.abc": "ddf429aa0ee6015e6c8cdf498de41e91324b0f28115235be0a7a965b99018da3",
    "variation-12-bwv-988.abc": "10238199730bce148cac3d6134de3325139ec5207ac98c58d6ba515299d80875",
    "variation-13-bwv-988.abc": "7a05329671a654551df1ac0cd6a7f5327124ff96da0ea214fd15d01527bcc144",
    "variation-14-bwv-988.abc": "84d72af524da29400278fa9b77982604a4180d3e34b98aaf08463ca37267a17e",
    "variation-15-bwv-988.abc": "3c77f003f65e3c51e94c5c06056fee94be1488795ad8892474fc6d93b997a0db",
    "variation-16-bwv-988.abc": "df87321ff53075b734b062b9c6d6046ab74e0770302b1b24cc06df70fb940cdb",
    "variation-17-bwv-988.abc": "af62cfb0f3074171b06f2413adad73727dd6dc59e89dace25cdcf440c10727ea",
    "variation-18-bwv-988.abc": "ad0c8ab5b630f86ab0d4abb67870470f06daed83b3917ffd983129d97601643f",
    "variation-19-bwv-988.abc": "09bd088bd4eeeb63430a30f2136ca6eb7047a87f4f0bbbbf277d51c991d86f3b",
    "variation-20-bwv-988.abc": "95902590f7a14ce56a7e0f026a67b99add84004b770391aec7cbca3d954068ef",
    "variation-21-bwv-988.abc": "413865c19594fb30ff40fdf19efcdb17341485849f2c9cf2c5819625ad2225c0",
    "variation-22-bwv-988.abc": "77d3b7c840d40cd6b58196714b16d00a3447ec99e7b0db7aa97c8ada03022535",
    "variation-23-bwv-988.abc": "5874008b5eab79be84931c2d9041ded1ed7afeb0fc67c5bc3be5291afa1b9263",
    "variation-24-bwv-988.abc": "c4c3a40fa8d328418ac3fc314ac8117728c2bd1d19bbbad8027c4f04e9bc5d6a",
    "variation-25-bwv-988.abc": "8440c2d776ce76bc2e998330829ce23185e3ac62314304314202615e5ec486da",
    "variation-26-bwv-988.abc": "2faf66ac3948ae332e23276988b2dc83ea490a6781ff654ec19f5c868090f18d",
    "variation-27-bwv-988.abc": "ddeab1f430b6515dac230898e4145c4a039e89b5e3e6bcb296d8470f26b80477",
    "variation-28-bwv-988.abc": "ffde496fc4416caff7a789ffd9b3fda88f102119b83911b43466391990766ef5",
    "variation-29-bwv-988.abc": "04dc81bfce8f02ad6c5ff0b714731012f326cf55c05c81d750948807da84a23d",
    "variation-30-bwv-988.abc": "65fe5caf955be2e48284371a83225f5c599468b2925f69aa63adeea774250ab3",
    "aria-da-capo-bwv-988.abc": "3d70af281283c1546228f5f514a6474f881f21309f34a544eb9f3c6d8e7418f9",
}
#: Known files by URL: where they live in the data directory and their sha256, so a download given in
#: ``dataset.urls`` is verified and a copy already in the data directory (``goldberg/...``) is reused.
KNOWN_FILES: dict[str, tuple[str, str]] = {
    GOLDBERG_URL + "goldberg-variations-from-mxl.abc": (
        "goldberg/goldberg-variations-from-mxl.abc",
        "766df7d6ec5424485bfe7936f5a50f04ae25e53797c89b4287494ceca61978a7",
    ),
    **{GOLDBERG_URL + "abc/" + name: (f"goldberg/{name}", sha256) for name, sha256 in GOLDBERG_MOVEMENTS.items()},
}
#: An n-gram found in more tunes than this is boilerplate (a shared header), not evidence of copying.
COMMON_NGRAM_TUNES = 100


@dataclass
class AbcConfig:
    """Where the tunes come from, how they are split, and how the character streams are batched."""

    #: An .abc file or a folder of them; with neither ``path`` nor ``urls``: the Goldberg Variations.
    path: str | None = None
    urls: list[str] = field(default_factory=list)
    #: Leave out lines that hold only a ``%`` comment (``%%`` directives stay).
    drop_comments: bool = False
    #: ``random`` (seeded fractions of the tunes) or ``fixed`` (the tunes named in val_tunes/test_tunes).
    split: str = "random"
    val_tunes: list[str] = field(default_factory=list)
    test_tunes: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    near_duplicate_ngram: int = 20
    near_duplicate_threshold: float = 0.5
    #: Train on N tunes drawn with replacement from the training tunes, redrawn each epoch.
    resample_tunes: int | None = None
    #: Start each epoch's training text at a random character (seeded by ``seed`` and the epoch; the
    #: end wraps round to the start), so streams and windows are cut at new places every epoch.
    random_start: bool = False
    #: Parallel character streams per batch, and characters of each stream per batch.
    batch_size: int = 50
    seq_length: int = 50
    #: Evaluate whole tunes: every held-out tune is read from its ``X:`` line in one stream (up to
    #: ``batch_size`` streams, tunes shared out by length), so each character is scored with all of
    #: its tune before it. ``false``: cut the split into ``batch_size`` streams as training does.
    eval_by_tune: bool = True
    #: Give the model, beside each character, how many units of ``L`` the current bar still lacks
    #: (``abc_bar_clock``): a function of the text so far, which the sampler computes again as it draws.
    bar_clock: bool = False
    #: Seeds the resampled training stream (with the epoch); the split has its own ``split_seed``.
    seed: int = 0


# ---------------------------------------------------------------------------------------------------
# Near-duplicate tunes
# ---------------------------------------------------------------------------------------------------


def ngrams(text: str, n: int) -> set[str]:
    """The distinct character n-grams of ``text`` (the text itself when it is shorter than ``n``)."""
    if len(text) <= n:
        return {text}
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def shared_ngram_fractions(texts: list[str], n: int) -> dict[tuple[int, int], tuple[float, float]]:
    """For each pair ``(i, j)``, ``i < j``, sharing an n-gram: the fractions of i's n-grams found in j and back.

    Pairs are found through an index of n-grams, so tunes with nothing in common cost nothing.
    """
    sets = [ngrams(text, n) for text in texts]
    owners: dict[str, list[int]] = {}
    for index, grams in enumerate(sets):
        for gram in grams:
            owners.setdefault(gram, []).append(index)
    shared: Counter[tuple[int, int]] = Counter()
    for holders in owners.values():
        if 1 < len(holders) <= COMMON_NGRAM_TUNES:
            shared.update(combinations(holders, 2))
    return {(i, j): (count / len(sets[i]), count / len(sets[j])) for (i, j), count in shared.items()}


#: Shared n-gram fractions of tune pairs, as ``shared_ngram_fractions`` returns them.
PairFractions = dict[tuple[int, int], tuple[float, float]]


def group_near_duplicates(count: int, fractions: PairFractions, threshold: float) -> list[list[int]]:
    """Indices ``0..count-1`` grouped so that near-duplicates (either fraction >= threshold) share a group."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (i, j), pair in fractions.items():
        if max(pair) >= threshold:
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def near_duplicate_groups(texts: list[str], n: int, threshold: float) -> list[list[int]]:
    """Indices of ``texts`` grouped so that near-duplicates share a group."""
    return group_near_duplicates(len(texts), shared_ngram_fractions(texts, n), threshold)


# ---------------------------------------------------------------------------------------------------
# Splits by tune
# ---------------------------------------------------------------------------------------------------


def tune_matches(name: str, tune: Tune) -> bool:
    """Whether a name from ``val_tunes``/``test_tunes`` selects ``tune`` (see the module docstring)."""
    wanted, stem = name.strip().lower(), tune.stem.lower()
    if stem == wanted or tune.title.strip().lower() == wanted:
        return True
    return stem.startswith(wanted) and not stem[len(wanted)].isalnum()


def _select(names: list[str], tunes: list[Tune], option: str) -> list[int]:
    selected: list[int] = []
    for name in names:
        found = [i for i, tune in enumerate(tunes) if tune_matches(name, tune)]
        if not found:
            available = sorted({t.stem for t in tunes} | {t.title for t in tunes})
            shown = ", ".join(available[:40]) + (f", ... ({len(available)} in all)" if len(available) > 40 else "")
            raise ValueError(f"dataset.{option}: no tune is called {name!r}; available: {shown}")
        selected += [i for i in found if i not in selected]
    return selected


def fixed_split(tunes: list[Tune], val_tunes: list[str], test_tunes: list[str]) -> dict[str, list[int]]:
    """Tune indices per split: the named tunes held out, every other tune in train."""
    val = _select(val_tunes, tunes, "val_tunes")
    test = _select(test_tunes, tunes, "test_tunes")
    both = sorted(set(val) & set(test))
    if both:
        names = ", ".join(tunes[i].name for i in both)
        raise ValueError(f"dataset.val_tunes and dataset.test_tunes both select {names}; name each tune once")
    held_out = set(val) | set(test)
    return {"train": [i for i in range(len(tunes)) if i not in held_out], "val": val, "test": test}


def random_split(
    tunes: list[Tune], val_fraction: float, test_fraction: float, seed: int, groups: list[list[int]]
) -> dict[str, list[int]]:
    """Tune indices per split: whole near-duplicate groups, shuffled with ``seed``, dealt to test, val, train."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"dataset.val_fraction={val_fraction} and dataset.test_fraction={test_fraction} must each lie in "
            "[0, 1) and add up to less than 1"
        )

    def wanted(fraction: float) -> int:
        return max(1, round(fraction * len(tunes))) if fraction > 0 else 0

    order = sorted(groups)
    random.Random(seed).shuffle(order)
    split: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for group in order:
        if len(split["test"]) < wanted(test_fraction):
            split["test"] += group
        elif len(split["val"]) < wanted(val_fraction):
            split["val"] += group
        else:
            split["train"] += group
    return {name: sorted(indices) for name, indices in split.items()}


def warn_on_leaks(
    tunes: list[Tune], split: dict[str, list[int]], fractions: PairFractions, threshold: float, n: int
) -> list[str]:
    """Warn for each held-out tune that shares at least ``threshold`` of its n-grams with a training tune."""
    training = set(split["train"])
    messages = []
    for split_name in ("val", "test"):
        for i in split[split_name]:
            for j in sorted(training):
                pair = fractions.get((min(i, j), max(i, j)))
                shared = 0.0 if pair is None else pair[0] if i < j else pair[1]
                if shared < threshold:
                    continue
                message = (
                    f"held-out {split_name} tune {tunes[i].name!r} shares {shared:.0%} of its {n}-character "
                    f"sequences with training tune {tunes[j].name!r}: its scores will flatter the model; hold "
                    "out both or neither"
                )
                warnings.warn(message, stacklevel=3)
                messages.append(message)
    return messages


# ---------------------------------------------------------------------------------------------------
# Text, vocabulary and stream batches
# ---------------------------------------------------------------------------------------------------


def join_tunes(tunes: list[Tune]) -> str:
    """One text of the tunes, each followed by a blank line, so every tune starts with its ``X:`` line."""
    return "".join(tune.text + "\n" for tune in tunes)


def build_vocabulary(text: str) -> Vocabulary:
    """Characters of ``text`` by frequency (most frequent first), ties by character; index 0 is unknown."""
    counts = Counter(text)
    return Vocabulary(sorted(counts, key=lambda symbol: (-counts[symbol], symbol)))


def stream_batches(
    ids: torch.Tensor,
    batch_size: int,
    seq_length: int,
    shard: tuple[int, int] = (0, 1),
    keep_partial: bool = False,
    context: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Cut ``ids`` into ``batch_size`` contiguous streams and yield ``seq_length`` steps of each at a time.

    Targets are the inputs shifted by one. With ``shard=(rank, world)`` only streams ``rank::world``
    are yielded. ``keep_partial`` also yields the shorter last batch (so evaluation sees every character).
    ``context`` (one class per id) is cut like the inputs.
    """
    rank, world = shard
    if world < 1 or not 0 <= rank < world or batch_size % world:
        raise ValueError(
            f"cannot shard dataset.batch_size={batch_size} streams as rank {rank} of {world} processes: "
            "batch_size must be divisible by the number of processes"
        )
    per_stream = max(len(ids) - 1, 0) // batch_size
    inputs = ids[: batch_size * per_stream].view(batch_size, per_stream)[rank::world]
    targets = ids[1 : batch_size * per_stream + 1].view(batch_size, per_stream)[rank::world]
    contexts = None if context is None else context[: batch_size * per_stream].view(batch_size, per_stream)[rank::world]
    starts = range(0, count_batches(len(ids), batch_size, seq_length, keep_partial) * seq_length, seq_length)
    # A generator expression, so a bad shard fails here and not at the first batch.
    return (_window(inputs, targets, contexts, start, seq_length) for start in starts)


def _window(
    inputs: torch.Tensor, targets: torch.Tensor, contexts: torch.Tensor | None, start: int, length: int
) -> Batch:
    """Steps ``start`` to ``start + length`` of every stream."""
    window = slice(start, start + length)
    context = None if contexts is None else contexts[:, window].contiguous()
    return Batch(inputs[:, window].contiguous(), targets[:, window].contiguous(), context)


def count_batches(length: int, batch_size: int, seq_length: int, keep_partial: bool) -> int:
    """How many batches ``stream_batches`` yields from ``length`` ids."""
    per_stream = max(length - 1, 0) // batch_size
    full, rest = divmod(per_stream, seq_length)
    return full + (1 if keep_partial and rest else 0)


def pack_streams(lengths: list[int], streams: int) -> list[list[int]]:
    """Indices of the items of ``lengths`` for each of ``streams`` streams, in order within a stream.

    Longest first onto the shortest stream, so the streams end close together and little is padding.
    """
    loads = [0] * min(streams, len(lengths))
    packed: list[list[int]] = [[] for _ in loads]
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        shortest = loads.index(min(loads))
        packed[shortest].append(index)
        loads[shortest] += lengths[index]
    return [sorted(stream) for stream in packed]


def count_tune_batches(lengths: list[int], streams: int, seq_length: int) -> int:
    """How many batches ``tune_stream_batches`` yields for tunes of these lengths (unsharded)."""
    longest = max((sum(lengths[i] for i in stream) for stream in pack_streams(lengths, streams)), default=1)
    return -(-(longest - 1) // seq_length)


def tune_stream_batches(
    tunes: list[torch.Tensor],
    streams: int,
    seq_length: int,
    shard: tuple[int, int] = (0, 1),
    contexts: list[torch.Tensor] | None = None,
) -> Iterator[Batch]:
    """Batches that read whole tunes: each stream holds whole tunes, the first from its first character.

    Streams shorter than the longest are padded: inputs with 0, targets with ``PADDING_TARGET``, which
    score nothing. With ``shard=(rank, world)`` only streams ``rank::world`` are yielded (a rank may
    get none); every character is still scored by exactly one rank. ``contexts`` (one tensor of
    classes per tune) are laid out like the inputs.
    """
    rank, world = shard
    packed = pack_streams([len(tune) for tune in tunes], streams)
    rows = [torch.cat([tunes[i] for i in stream]) for stream in packed]
    # The width of all streams, so a shard's batches are exactly its rows of the unsharded batches.
    width = max((len(row) - 1 for row in rows), default=0)
    rows = rows[rank::world]
    inputs = torch.zeros(len(rows), width, dtype=torch.long)
    targets = torch.full((len(rows), width), PADDING_TARGET, dtype=torch.long)
    for row, ids in enumerate(rows):
        inputs[row, : len(ids) - 1] = ids[:-1]
        targets[row, : len(ids) - 1] = ids[1:]
    context = None
    if contexts is not None:
        context = torch.zeros(len(rows), width, dtype=torch.long)
        for row, stream in enumerate(packed[rank::world]):
            classes = torch.cat([contexts[i] for i in stream])
            context[row, : len(classes) - 1] = classes[:-1]
    return (_window(inputs, targets, context, start, seq_length) for start in range(0, width, seq_length))


# ---------------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------------


@dataclass
class AbcSampleFormat(SampleFormat):
    """Samples are ABC: ``samples.abc``, reported as the number of tunes and how many are well-formed."""

    suffix: str = ".abc"

    def report(self, text: str) -> dict[str, Any]:
        # A stream stops after sampler.length characters, mid-token as often as not.
        return {"characters": len(text), **report_text(text, unfinished=True)}

    def context_tracker(self) -> BarClock:
        """The bar clock, for models trained with ``dataset.bar_clock``."""
        return BarClock()

    def export(self, text: str, out_dir: Path, stem: str) -> dict[str, Any]:
        """One MIDI file per tune (``samples-01.mid`` ...) when music21 is installed, to listen to them."""
        if not midi_available():
            return {"midi": f"not written: MIDI export needs music21 ({MIDI_EXTRA})"}
        return {"midi": export_midi(text, out_dir, stem)}


def _download(url: str) -> Path:
    """The local copy of ``url``: a known file at its usual place, any other under ``abc/`` tagged by its URL."""
    if url in KNOWN_FILES:
        return fetch(KNOWN_FILES[url][0], url, KNOWN_FILES[url][1])
    name = Path(urlparse(url).path).name or "tunes.abc"
    tag = hashlib.sha256(url.encode()).hexdigest()[:12]
    return fetch(f"abc/{tag}-{name}", url, None)


def load_tunes(config: AbcConfig) -> list[Tune]:
    """The tunes the config names, in order: ``path``, then ``urls``, else the Goldberg movements."""
    files: list[Path] = []
    if config.path:
        files.append(Path(config.path).expanduser())
    files += [_download(url) for url in config.urls]
    if not files:
        files = [_download(GOLDBERG_URL + "abc/" + name) for name in GOLDBERG_MOVEMENTS]
    return [tune for file in files for tune in read_tunes(file, drop_comments=config.drop_comments)]


class AbcDataset(Dataset):
    """ABC tunes as character streams, split by tune (default: Bach's Goldberg Variations)."""

    sample_format = AbcSampleFormat()

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
            self.contexts = {name: _joined(classes) for name, classes in self.tune_contexts.items()}
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

    def _ids(self, split: Split, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ids of ``split`` for ``epoch``, with their context classes when the dataset has a context."""
        contexts = self.contexts[split] if self.contexts is not None else None
        if split != "train":
            return self.ids[split], contexts
        ids = self.ids[split]
        if self.config.resample_tunes is not None:
            drawn, end = self.resampled_tunes(epoch), self.resample_length + 1
            ids = _joined([self.tune_ids["train"][i] for i in drawn])[:end]
            if self.tune_contexts is not None:
                contexts = _joined([self.tune_contexts["train"][i] for i in drawn])[:end]
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
        ids, context = self._ids(split, epoch)
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

    def artifacts(self) -> dict[str, Any]:
        return {
            "vocabulary": self.vocabulary.to_dict(),
            "unknown_counts": dict(self.unknown_counts),
            "split_tunes": {name: [tune.name for tune in self.split_tunes[name]] for name in SPLITS},
        }


def _joined(pieces: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.long)


@hookimpl
def register_datasets(register: RegisterComponent) -> None:
    register("abc", AbcDataset, AbcConfig)
