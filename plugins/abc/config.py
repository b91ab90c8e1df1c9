"""The options of the ``abc`` dataset (``dataset/abc``): where the tunes come from, splits, batches.

Only a dataclass, so the plugin registers the dataset without reading or importing anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    #: (``seqkit.plugins.abc.bar_clock``): a function of the text so far, which the sampler computes again
    #: as it draws.
    bar_clock: bool = False
    #: Seeds the resampled training stream (with the epoch); the split has its own ``split_seed``.
    seed: int = 0
