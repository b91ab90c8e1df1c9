"""How samples of a model trained on ABC are stored and judged: ``samples.abc``, checked, exported to MIDI.

Light to import (music21 is imported only when a MIDI file is written), so the plugin can hand it to the
host without building the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqkit.components import SampleFormat
from seqkit.plugins.abc.bar_clock import BarClock
from seqkit.plugins.abc.check import report_text
from seqkit.plugins.abc.midi import MIDI_EXTRA, export_midi, midi_available
from seqkit.plugins.abc.notation import TuneCounter


@dataclass
class AbcSampleFormat(SampleFormat):
    """Samples are ABC: ``samples.abc``, each stream primed as a tune (``X:1``), its pieces tunes, reported
    as the number of tunes and how many are well-formed."""

    suffix: str = ".abc"
    prime: str = "X:1\n"

    def report(self, text: str) -> dict[str, Any]:
        # A stream stops after sampler.length characters, mid-token as often as not.
        return {"characters": len(text), **report_text(text, unfinished=True)}

    def context_tracker(self) -> BarClock:
        """The bar clock, for models trained with ``dataset.bar_clock``."""
        return BarClock()

    def piece_counter(self) -> TuneCounter:
        """Tunes, complete at a blank line or at the next ``X:`` line, for ``sampler.pieces``."""
        return TuneCounter()

    def export(self, text: str, out_dir: Path, stem: str) -> dict[str, Any]:
        """One MIDI file per tune (``samples-01.mid`` ...) when music21 is installed, to listen to them."""
        if not midi_available():
            return {"midi": f"not written: MIDI export needs music21 ({MIDI_EXTRA})"}
        return {"midi": export_midi(text, out_dir, stem)}
