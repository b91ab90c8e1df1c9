"""The built-in ``abc`` dataset plugin: ABC music corpora as character streams (default: Bach's Goldberg Variations).

Registering reads nothing and imports nothing heavy: the factory imports :mod:`seqkit.plugins.abc.dataset`
when a dataset is built. The package's modules:

- :mod:`~seqkit.plugins.abc.config`: the dataset's options (``AbcConfig``);
- :mod:`~seqkit.plugins.abc.dataset`: the dataset (``AbcDataset``), and how its data is read, split and batched;
- :mod:`~seqkit.plugins.abc.corpus`: reading the tunes, near-duplicates and splits by tune;
- :mod:`~seqkit.plugins.abc.batches`: the character vocabulary and stream batches;
- :mod:`~seqkit.plugins.abc.sample_format`: how samples are stored, checked and exported;
- :mod:`~seqkit.plugins.abc.notation`: ABC text: tunes, headers, comments;
- :mod:`~seqkit.plugins.abc.check`: whether a tune is well-formed;
- :mod:`~seqkit.plugins.abc.bar_clock`: how much of the current bar is left, character by character;
- :mod:`~seqkit.plugins.abc.midi`: MIDI export through music21 (optional).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqkit import hookimpl
from seqkit.hookspecs import RegisterComponent
from seqkit.plugins.abc.config import AbcConfig
from seqkit.plugins.abc.sample_format import AbcSampleFormat

if TYPE_CHECKING:
    from seqkit.plugins.abc.dataset import AbcDataset


def build_abc_dataset(config: AbcConfig) -> AbcDataset:
    """ABC tunes as character streams, split by tune (default: Bach's Goldberg Variations)."""
    from seqkit.plugins.abc.dataset import AbcDataset

    return AbcDataset(config)


@hookimpl
def register_datasets(register: RegisterComponent) -> None:
    register("abc", build_abc_dataset, AbcConfig, sample_format=AbcSampleFormat())
