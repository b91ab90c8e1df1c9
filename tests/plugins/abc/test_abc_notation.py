"""Reading ABC: splitting files into tunes, tune headers, files and folders, encodings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqkit.plugins.abc.notation import AbcReadError, has_music, parse_headers, read_text, read_tunes, split_tunes


def shared_goldberg() -> Path:
    """The shared Goldberg copies: ``$SEQKIT_DATA/goldberg`` or ``../shared/data/goldberg`` beside the repo."""
    root = os.environ.get("SEQKIT_DATA") or Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    return Path(root) / "goldberg"


GOLDBERG = shared_goldberg()
needs_goldberg = pytest.mark.skipif(not GOLDBERG.is_dir(), reason="shared Goldberg ABC files not present")

BOOK = """%abc-2.1
% A tune book: comments and free text before, between and after the tunes.
Copyright (c) nobody; this line is free text.

X: 1
T:First Reel
C:Trad.
B:Some Book
N:a note
Z:transcribed by someone
M:4/4
L:1/8
Q:1/4=120
R:reel
K:D
% a comment inside the tune
V:1 name="fiddle"
|:A2 FA dAFA|[V:2] D8:|

Free text between tunes is no tune.

X:2
T:Second
M:3/4
L:1/8
K:G
G2 B2 d2|]
"""


def test_a_book_splits_into_its_tunes_at_x_lines() -> None:
    tunes = split_tunes(BOOK, file="book.abc")
    assert [tune.headers["X"] for tune in tunes] == ["1", "2"]
    assert [tune.index for tune in tunes] == [0, 1]


def test_free_text_outside_tunes_is_left_out() -> None:
    tunes = split_tunes(BOOK)
    assert all(tune.text.startswith("X:") or tune.text.startswith("X: ") for tune in tunes)
    assert not any("Free text" in tune.text or "Copyright" in tune.text for tune in tunes)


def test_a_tune_ends_at_a_blank_line_and_keeps_its_newline() -> None:
    first = split_tunes(BOOK)[0]
    assert first.text.endswith("|[V:2] D8:|\n")
    assert first.line == 5


def test_header_fields_are_read_up_to_k() -> None:
    headers = split_tunes(BOOK)[0].headers
    assert headers == {
        "X": "1",
        "T": "First Reel",
        "C": "Trad.",
        "B": "Some Book",
        "N": "a note",
        "Z": "transcribed by someone",
        "M": "4/4",
        "L": "1/8",
        "Q": "1/4=120",
        "R": "reel",
        "K": "D",
    }


def test_parse_headers_keeps_the_first_value_of_a_repeated_field() -> None:
    assert parse_headers(["X:3", "T:Main", "T:Subtitle", "K:C", "T:In the body"])["T"] == "Main"


def test_voices_come_from_v_lines_and_inline_fields() -> None:
    assert split_tunes(BOOK)[0].voices == ["1", "2"]


def test_title_falls_back_to_the_file_stem() -> None:
    tune = split_tunes("X:1\nM:2/4\nL:1/8\nK:C\nCD|\n", file="folder/untitled-jig.abc")[0]
    assert tune.title == "untitled-jig"
    assert tune.name == "untitled-jig"


def test_drop_comments_removes_comment_lines_but_keeps_directives() -> None:
    text = "X:1\n% a comment\n%%score (1 2)\nT:T\nK:C\n  % indented comment\nCDEF|\n"
    tune = split_tunes(text, drop_comments=True)[0]
    assert tune.text == "X:1\n%%score (1 2)\nT:T\nK:C\nCDEF|\n"


def test_comments_are_kept_by_default() -> None:
    assert "% a comment" in split_tunes("X:1\n% a comment\nK:C\nC|\n")[0].text


def test_windows_and_old_mac_line_endings_are_normalised() -> None:
    tunes = split_tunes("X:1\r\nT:A\r\nK:C\r\nCD|\r\r\nX:2\rK:D\rD|\r")
    assert [tune.text for tune in tunes] == ["X:1\nT:A\nK:C\nCD|\n", "X:2\nK:D\nD|\n"]


def test_reading_a_folder_reads_every_abc_file_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.abc").write_text("X:1\nT:B\nK:C\nC|\n", encoding="utf-8")
    (tmp_path / "a.abc").write_text("X:1\nT:A1\nK:C\nC|\n\nX:2\nT:A2\nK:C\nD|\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("X:1\nT:not abc\nK:C\n", encoding="utf-8")
    assert [tune.title for tune in read_tunes(tmp_path)] == ["A1", "A2", "B"]


def test_undecodable_bytes_fail_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.abc"
    path.write_bytes(b"X:1\nT:Caf\xe9\nK:C\n")
    with pytest.raises(AbcReadError, match=r"latin\.abc, line 2: .*not UTF-8"):
        read_text(path)


def test_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.abc"
    path.write_bytes(b"\xef\xbb\xbfX:1\nK:C\nC|\n")
    assert read_tunes(path)[0].headers["X"] == "1"


def test_a_file_without_tunes_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.abc"
    path.write_text("% nothing here\n", encoding="utf-8")
    with pytest.raises(AbcReadError, match="empty.abc holds no tune"):
        read_tunes(path)


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AbcReadError, match="nowhere.abc does not exist"):
        read_tunes(tmp_path / "nowhere.abc")


@needs_goldberg
def test_every_shared_goldberg_file_reads_as_one_tune() -> None:
    files = sorted(GOLDBERG.glob("*.abc"))
    assert len(files) == 33
    for file in files:
        tunes = read_tunes(file)
        assert len(tunes) == 1, file.name
        assert tunes[0].headers["K"], file.name


@needs_goldberg
def test_the_score_converted_from_musicxml_reads_with_its_eight_voices() -> None:
    (tune,) = read_tunes(GOLDBERG / "goldberg-variations-from-mxl.abc")
    assert tune.title == "J. S. Bach Goldberg-Variationen BWV 988"
    assert tune.headers["L"] == "1/8"
    assert sorted(tune.voices) == [str(v) for v in range(1, 9)]
    assert "\U0001d15f = 72" in tune.text  # a symbol outside the Basic Multilingual Plane survives


def test_a_tune_has_music_only_with_notes_after_its_k_line() -> None:
    first, second = split_tunes(BOOK)
    assert has_music(first) and has_music(second)
    header_only, no_key, comments_only, inline_voice = split_tunes(
        "X:1\nT:A\nK:C\n\nX:2\nT:B\nM:4/4\n\nX:3\nK:C\n% only a comment\n%%MIDI program 1\nV:1\n\n"
        "X:4\nK:C\n[V:1] C2 D2|\n"
    )
    assert not has_music(header_only) and not has_music(no_key) and not has_music(comments_only)
    assert has_music(inline_voice)
