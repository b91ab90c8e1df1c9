"""MIDI export of ABC tunes: voices as music21 needs them, numbered files, failures, the optional extra."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from seqkit.plugins.abc.midi import MIDI_EXTRA, export_midi, midi_available, normalise_voices, trim_unfinished


def shared_data() -> Path:
    """The shared data copies: ``$SEQKIT_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("SEQKIT_DATA") or Path(__file__).resolve().parents[3] / ".." / "shared" / "data")


HEADER = """X:1
T:two-voices
C:Nobody
M:3/4
L:1/8
% original_key:D
K:G
V:1 name="upper_1"
V:2 name="lower_1"
"""
#: Shaped like the training data: voices declared after ``K:``, one ``[V:n]`` body line per voice.
TWO_VOICES = HEADER + "[V:1] G A B c d e | f2 g2 z2 |]\n[V:2] G,,6 | D,6 |]\n"


def tune(number: int, pitch: str = "C") -> str:
    return f"X:{number}\nT:tune {number}\nM:4/4\nL:1/4\nK:C\n[V:1] {pitch} D E F |\n[V:2] C, D, E, F, |\n"


def read_back(path: Path):
    music21 = pytest.importorskip("music21")
    return music21.converter.parse(path)


def first_pitches(part, count: int) -> list[str]:
    return [pitch.nameWithOctave for pitch in part.pitches[:count]]


# -- text preparation (no music21 needed) ------------------------------------------------------------


def test_voices_are_gathered_into_one_v_line_each_and_renumbered() -> None:
    text = HEADER.replace("V:2", "V:lower") + "[V:1] G A B |\n[V:lower] G,,3 |\n[V:1] c d e |]\n"
    lines = normalise_voices(text).splitlines()
    assert lines[-5:] == ['V:1 name="upper_1"', "G A B |", "c d e |]", 'V:2 name="lower_1"', "G,,3 |"]
    assert not any(line.startswith("[V:") for line in lines)


def test_declared_voices_without_music_are_left_out() -> None:
    text = HEADER + "[V:2] G,,6 |\n"
    assert normalise_voices(text).splitlines()[-2:] == ['V:1 name="lower_1"', "G,,6 |"]


def test_a_tune_without_voices_is_unchanged() -> None:
    text = "X:1\nT:t\nM:3/4\nL:1/8\nK:C\nCDE FGA |]\n"
    assert normalise_voices(text) == text


def test_only_an_open_bracket_at_the_very_end_is_trimmed() -> None:
    assert trim_unfinished("X:1\nK:C\n[V:1] CDE | F\n[V:") == "X:1\nK:C\n[V:1] CDE | F\n"
    assert trim_unfinished("X:1\nK:C\n[V:1] CDE | F [ce") == "X:1\nK:C\n[V:1] CDE | F\n"
    assert trim_unfinished(TWO_VOICES) == TWO_VOICES


# -- export --------------------------------------------------------------------------------------------


def test_two_voice_tune_round_trips_through_midi(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    summary = export_midi(TWO_VOICES, tmp_path, "samples")
    assert summary == {"files": ["samples-1.mid"], "failed": []}
    score = read_back(tmp_path / "samples-1.mid")
    assert len(score.parts) == 2
    # K:G makes f an F sharp.
    assert first_pitches(score.parts[0], 8) == ["G4", "A4", "B4", "C5", "D5", "E5", "F#5", "G5"]
    assert first_pitches(score.parts[1], 2) == ["G2", "D3"]


def test_cut_off_tune_with_a_returning_voice_keeps_each_voice_in_its_part(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    text = HEADER + "[V:1] G A B c d e |\n[V:2] G,,6 |\n[V:1] B A G F E D | C2 E\n[V:"
    assert export_midi(text, tmp_path, "cut") == {"files": ["cut-1.mid"], "failed": []}
    score = read_back(tmp_path / "cut-1.mid")
    assert len(score.parts) == 2
    assert first_pitches(score.parts[0], 9) == ["G4", "A4", "B4", "C5", "D5", "E5", "B4", "A4", "G4"]
    assert first_pitches(score.parts[1], 5) == ["G2"]


def test_a_bar_of_the_wrong_length_does_not_stop_the_tune(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    text = HEADER + "[V:1] G A B c d e | f2 g2 a2 b2 | c6 | d6 |]\n[V:2] G,,6 | G,,6 | G,,6 | G,,6 |]\n"
    assert export_midi(text, tmp_path, "long") == {"files": ["long-1.mid"], "failed": []}
    score = read_back(tmp_path / "long-1.mid")
    assert first_pitches(score.parts[0], 12)[-4:] == ["A5", "B5", "C5", "D5"]


def test_each_tune_gets_a_numbered_file_padded_to_the_count(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    names = "CDEFGABcde"
    summary = export_midi("\n".join(tune(i, names[i]) for i in range(10)), tmp_path, "samples")
    assert summary["failed"] == []
    assert summary["files"] == [f"samples-{n:02d}.mid" for n in range(1, 11)]
    assert sorted(p.name for p in tmp_path.iterdir()) == summary["files"]
    assert first_pitches(read_back(tmp_path / "samples-03.mid").parts[0], 1) == ["E4"]
    assert first_pitches(read_back(tmp_path / "samples-10.mid").parts[0], 1) == ["E5"]

    few = export_midi(tune(1) + "\n" + tune(2), tmp_path / "few", "s")
    assert few["files"] == ["s-1.mid", "s-2.mid"]


def test_an_unreadable_tune_is_reported_and_the_others_are_written(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    # A zero length makes music21 divide by zero while reading the tune.
    broken = "X:2\nT:broken\nM:4/4\nL:1/4\nK:C\n[V:1] C0 D/0 E |\n[V:2] C, |\n"
    silent = "X:4\nT:silent\nM:4/4\nL:1/4\nK:C\n[V:1] | | |\n"
    summary = export_midi("\n".join([tune(1), broken, tune(3), silent]), tmp_path, "mix")
    assert summary["files"] == ["mix-1.mid", "mix-3.mid"]
    assert [failure["tune"] for failure in summary["failed"]] == [2, 4]
    assert summary["failed"][0]["error"].startswith("ZeroDivisionError: ")
    assert summary["failed"][1]["error"] == "ValueError: no notes to write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix-1.mid", "mix-3.mid"]


def test_without_music21_export_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)  # what an uninstalled package looks like to imports
    assert midi_available() is False
    with pytest.raises(ModuleNotFoundError, match=r"seqkit\[music\]") as raised:
        export_midi(TWO_VOICES, tmp_path, "samples")
    assert MIDI_EXTRA in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not (shared_data() / "goldberg").is_dir(), reason="shared Goldberg ABC files not present")
def test_a_goldberg_movement_converts_with_all_four_voices(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    text = (shared_data() / "goldberg" / "variation-07-bwv-988.abc").read_text(encoding="utf-8")
    summary = export_midi(text, tmp_path, "variation-07")
    assert summary == {"files": ["variation-07-1.mid"], "failed": []}
    score = read_back(tmp_path / "variation-07-1.mid")
    assert len(score.parts) == 4
    assert all(part.pitches for part in score.parts)
    # The first bar of voice 1 is "B3 A B2 D3 G B2" under K:C.
    assert first_pitches(score.parts[0], 6) == ["B4", "A4", "B4", "D4", "G4", "B4"]
