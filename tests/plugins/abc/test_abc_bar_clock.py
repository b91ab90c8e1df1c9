"""The bar clock: how much of each bar is left, read one character at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqkit.plugins.abc.bar_clock import (
    CLASSES,
    MAX_UNITS,
    OUTSIDE,
    OVERFULL,
    UNCOUNTED,
    BarClock,
    bar_clock_classes,
    count_class,
)

from conftest import shared_data

GOLDBERG = (shared_data() or Path("missing")) / "goldberg"
needs_goldberg = pytest.mark.skipif(not GOLDBERG.is_dir(), reason="shared Goldberg ABC files not present")

HEADER = "X:1\nT:t\nM:3/4\nL:1/16\nK:C\n"


def left(units: int) -> int:
    """The class of a bar with ``units`` units to go."""
    return count_class(units)


def after(body: str, header: str = HEADER) -> list[int]:
    """The classes after each character of ``body`` (read after ``header``)."""
    return bar_clock_classes(header + body)[len(header) :]


def test_the_header_is_outside_the_music() -> None:
    assert set(bar_clock_classes(HEADER)) == {OUTSIDE}


def test_each_note_counts_down_the_bar_as_far_as_it_is_written() -> None:
    # 3/4 in sixteenths is 12 units: B3 leaves 9, A 8, B2 6, z6 0; the bar line starts the next bar.
    body = "B3 A B2 z6 | C"
    expected = [11, 9, 9, 8, 8, 7, 6, 6, 5, 0, 0, 12, 12, 11]
    assert after(body) == [left(units) for units in expected]


def test_a_length_of_two_digits_counts_as_it_is_written() -> None:
    classes = after("z12 |")
    assert classes[:3] == [left(11), left(11), left(0)]


def test_a_bar_line_ends_the_bar() -> None:
    classes = after("z12 | B")
    assert classes[4] == left(12) and classes[-1] == left(11)


def test_the_clock_reads_chords_broken_rhythm_and_grace_notes() -> None:
    classes = after("[CEG]4 A>B {c}d2 z2 |")
    # [CEG]4 = 4, A>B = 1.5 + 0.5, {c} takes no time, d2, z2: 4 + 2 + 2 + 2 = 10; z2 short of 12 by 2.
    assert classes[len("[CEG]4") - 1] == left(8)
    assert classes[len("[CEG]4 A>B") - 1] == left(6)
    assert classes[len("[CEG]4 A>B {c}d2") - 1] == left(4)
    assert classes[len("[CEG]4 A>B {c}d2 z2") - 1] == left(2)


def test_a_triplet_leaves_an_uncountable_bar_until_it_is_whole() -> None:
    classes = after("(3ABc z10 |")
    assert classes[len("(3A") - 1] == UNCOUNTED
    assert classes[len("(3ABc") - 1] == left(10)


def test_an_overfull_bar_is_its_own_class() -> None:
    assert after("z8 z8")[-1] == OVERFULL


def test_voices_count_their_bars_apart() -> None:
    body = "[V:1] z4\n[V:2] z2\n[V:1] z"
    classes = after(body, HEADER + "V:1\nV:2\n")
    assert classes[len("[V:1] z4") - 1] == left(8)
    assert classes[len("[V:1] z4\n[V:2] z2") - 1] == left(10)
    assert classes[-1] == left(7)  # voice 1 goes on from its own 8


def test_a_meter_change_in_the_music_changes_the_bar() -> None:
    classes = after("z12 | [M:2/4] z2")
    assert classes[-1] == left(6)


def test_comments_field_lines_and_free_meter_are_not_counted() -> None:
    assert after("z4 % a comment z2\n")[-6:] == [OUTSIDE] * 6
    # "T" alone may start music (a decoration); from the colon on the line is a field.
    assert set(after("T:a title\n")[1:]) == {OUTSIDE}
    free = bar_clock_classes("X:1\nM:none\nL:1/8\nK:C\nABC")
    assert free[-1] == UNCOUNTED


def test_a_long_bar_is_counted_as_the_largest_class() -> None:
    classes = after("z", "X:1\nM:32/4\nL:1/16\nK:C\n")
    assert classes[-1] == left(MAX_UNITS) == CLASSES - 1


def test_a_new_tune_restarts_the_clock() -> None:
    first = HEADER + "z4\n\n"
    second = "X:2\nM:2/4\nL:1/8\nK:C\nz\n"
    assert bar_clock_classes(first + second) == bar_clock_classes(first) + bar_clock_classes(second)


def test_feeding_one_character_at_a_time_is_reading_the_whole_text() -> None:
    text = HEADER + "B3 A B2 z6 | [CEG]4 A>B d2 z2 |]\n"
    clock = BarClock()
    assert [clock.feed(character) for character in text] == bar_clock_classes(text)


@pytest.mark.parametrize("units", [-1, 0, 5, MAX_UNITS + 10])
def test_count_classes_lie_in_range(units: int) -> None:
    assert 0 <= count_class(units) < CLASSES


@needs_goldberg
def test_every_bar_of_the_goldberg_movements_ends_with_nothing_left() -> None:
    ends, empty = 0, 0
    for path in sorted(GOLDBERG.glob("*-bwv-988.abc")):
        text = path.read_text(encoding="utf-8")
        classes = bar_clock_classes(text)
        for i, character in enumerate(text):
            if character == "|" and text[i - 1] == " " and text[i - 2] != "|":
                ends += 1
                empty += classes[i - 2] == left(0)
    assert ends > 10_000
    assert empty == ends
