"""How ABC samples are primed, cut into tunes, judged and exported, and how the plugin hands that to the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqkit.host import load_host
from seqkit.plugins.abc.bar_clock import CLASSES, bar_clock_classes
from seqkit.plugins.abc.notation import TuneCounter
from seqkit.plugins.abc.sample_format import AbcSampleFormat

FORMAT = AbcSampleFormat()


def test_the_sample_format_reports_well_formed_tunes() -> None:
    report = FORMAT.report("X:1\nM:2/4\nL:1/8\nK:C\nCDEF|]\n\nX:2\nK:C\nCD|\n")
    assert FORMAT.suffix == ".abc"
    assert (report["tunes"], report["valid_fraction"]) == (2, 0.5)


def test_streams_are_primed_as_a_tune() -> None:
    assert FORMAT.prime == "X:1\n"


def test_a_blank_line_or_the_next_x_line_completes_a_tune() -> None:
    counter = FORMAT.piece_counter()
    for character in "free text\nX:1\nab|\n\nmore free text\n\nX:2\nab|\nX:3\nab":
        counter.feed(character)
    assert isinstance(counter, TuneCounter) and counter.complete == 2


def test_the_tune_counter_cuts_before_the_x_line_that_completed_the_last_tune() -> None:
    text = "X:1\nab|\nX:2\ncd|\n"
    counter = TuneCounter()
    for character in text:
        counter.feed(character)
    assert counter.complete == 1 and text[: counter.cut] == "X:1\nab|\n"


def test_the_plugin_registers_its_sample_format_with_the_dataset(no_installed_plugins) -> None:
    host = load_host(builtins=("seqkit.plugins.abc",), strict=True)
    assert host.registry.get("dataset", "abc").extras["sample_format"] == FORMAT


def test_sampled_tunes_are_exported_to_midi_when_music21_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    text = "X:1\nT:a\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c |]\n\nX:1\nT:b\nM:4/4\nL:1/4\nK:C\nc B A G |]\n"
    report = FORMAT.export(text, tmp_path, "samples")
    assert report == {"midi": {"files": ["samples-1.mid", "samples-2.mid"], "failed": []}}
    assert (tmp_path / "samples-2.mid").stat().st_size > 0


def test_without_music21_the_export_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("seqkit.plugins.abc.sample_format.midi_available", lambda: False)
    report = FORMAT.export("X:1\nK:C\nC D E F |]\n", tmp_path, "samples")
    assert report == {"midi": "not written: MIDI export needs music21 (pip install seqkit[music])"}
    assert not list(tmp_path.iterdir())


def test_the_sample_format_tracks_the_bar_clock() -> None:
    tracker = FORMAT.context_tracker()
    text = "X:1\nM:4/4\nL:1/8\nK:C\nA2 B"
    assert tracker.size == CLASSES
    assert [tracker.feed(character) for character in text] == bar_clock_classes(text)
