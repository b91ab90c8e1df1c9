"""The well-formedness check of ABC tunes: headers, bar lengths per voice, brackets; and on real scores."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

from seqkit.plugins.abc.check import check_tune, drop_unfinished_end, parse_length, parse_meter, report_text
from seqkit.plugins.abc.notation import read_tunes


def shared_goldberg() -> Path:
    """The shared Goldberg copies: ``$SEQKIT_DATA/goldberg`` or ``../shared/data/goldberg`` beside the repo."""
    root = os.environ.get("SEQKIT_DATA") or Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    return Path(root) / "goldberg"


GOLDBERG = shared_goldberg()
needs_goldberg = pytest.mark.skipif(not GOLDBERG.is_dir(), reason="shared Goldberg ABC files not present")


def tune(body: str, meter: str = "4/4", unit: str = "1/8") -> str:
    return f"X:1\nT:Test\nM:{meter}\nL:{unit}\nK:D\n{body}\n"


def test_a_plain_tune_is_valid() -> None:
    result = check_tune(tune("|:DEFG ABcd|e2d2 c2B2:|"))
    assert result.valid, result.problems
    assert (result.bars_checked, result.bars_failed) == (2, 0)


@pytest.mark.parametrize("missing", ["X", "M", "L", "K"])
def test_a_missing_header_field_makes_a_tune_invalid(missing: str) -> None:
    lines = [line for line in tune("DEFG ABcd|").splitlines() if not line.startswith(f"{missing}:")]
    result = check_tune("\n".join(lines))
    assert not result.valid
    assert f"missing {missing}: header field" in result.problems


def test_a_bar_of_the_wrong_length_is_reported_with_its_line_and_bar() -> None:
    result = check_tune(tune("DEFG ABcd|DEFG ABc|DEFG ABcd|"))
    assert not result.valid
    assert result.bars_failed == 1
    assert result.problems == ["line 6, bar 2: 7 units, meter needs 8"]


def test_a_long_bar_fails_even_at_the_end() -> None:
    assert check_tune(tune("DEFG ABcd|DEFG ABcde|]")).bars_failed == 1


def test_a_pickup_bar_is_accepted() -> None:
    assert check_tune(tune("A2|DEFG ABcd|DEFG ABcd|]")).valid


def test_a_short_final_bar_is_accepted() -> None:
    assert check_tune(tune("DEFG ABcd|DEFG A2|]")).valid


def test_short_bars_around_repeats_are_accepted() -> None:
    assert check_tune(tune("A2|:DEFG ABcd|DEFG AB:|:cd|DEFG ABcd|DE FG AB|1 c2:|2 c2|]")).valid


def test_note_lengths_are_read() -> None:
    assert parse_length("A3/2", 1) == (Fraction(3, 2), 4)
    assert [parse_length(text, 0)[0] for text in ["2", "/2", "/", "//", "3/", ""]] == [
        Fraction(2),
        Fraction(1, 2),
        Fraction(1, 2),
        Fraction(1, 4),
        Fraction(3, 2),
        Fraction(1),
    ]


def test_meters_are_read() -> None:
    assert [parse_meter(m) for m in ["3/4", "C", "C|", "2+3/8", "none"]] == [
        Fraction(3, 4),
        Fraction(1),
        Fraction(1),
        Fraction(5, 8),
        None,
    ]


def test_varied_lengths_fill_bars() -> None:
    assert check_tune(tune("A/B/C/D/ E2 F3/2G/2 A2|z4 x2 A/A/A|]")).valid


def test_triplets_take_the_time_of_two() -> None:
    assert check_tune(tune("(3ABc d2|(3A/B/c/ z d2|]", meter="2/4")).valid
    assert not check_tune(tune("ABc d2|DE F2|]", meter="2/4")).valid


def test_a_general_tuplet_follows_its_ratio() -> None:
    assert check_tune(tune("(5:4:5ABcde|]", meter="2/4", unit="1/8")).valid


def test_broken_rhythm_keeps_the_pair_length() -> None:
    assert check_tune(tune("A>B c<d A>>B c2|]", meter="4/4")).valid
    assert check_tune(tune("A3/2B/ A>B|]", meter="2/4")).valid


def test_broken_rhythm_scales_notes_of_unequal_length() -> None:
    assert check_tune(tune("DEFG ABcd|A>B2 c4 z/A|DEFG ABcd|]")).valid  # 3/2 + 2/2 + 4 + 1/2 + 1


def test_a_chord_lasts_as_long_as_its_first_note_times_its_own_length() -> None:
    assert check_tune(tune("[CEG]2 [C2E2G2] [CE]4|]")).valid
    assert check_tune(tune("[C/E/]2 D3|]", meter="2/4")).valid


def test_grace_notes_take_no_time() -> None:
    assert check_tune(tune("{ga}A2 {/g}B2 c4|DEFG ABcd|]")).valid


def test_decorations_symbols_ties_and_accidentals_are_skipped() -> None:
    body = '!trill!A2 ~B2 .c .d "Am"e "^text"f|^G_A=B c\'-c\' d,2 TuvA|]'
    assert check_tune(tune(body)).valid, check_tune(tune(body)).problems


def test_inline_meter_and_length_changes_apply() -> None:
    assert check_tune(tune("DEFG ABcd|[M:3/4] DEF GAB|[L:1/16] D4E4F4|]")).valid


def test_meter_and_length_lines_in_the_body_apply() -> None:
    assert check_tune(tune("DEFG ABcd|\nM:3/4\nDEF GAB|\nL:1/4\nDEF|]")).valid


def test_each_voice_is_checked_on_its_own() -> None:
    body = "V:1\n[V:1] DEFG ABcd|DEFG ABcd|DEFG ABcd|]\n[V:2] D8|D7|D8|]"
    result = check_tune(tune(body))
    assert result.bars_failed == 1
    assert result.problems == ["line 8, voice 2, bar 2: 7 units, meter needs 8"]


def test_voices_may_interleave_bar_by_bar() -> None:
    assert check_tune(tune("[V:1] D8|[V:2] A8|\n[V:1] D4 E4|[V:2] A4 B4|]")).valid


def test_comments_and_line_continuations_are_skipped() -> None:
    assert check_tune(tune("DEFG ABcd| % first bar\\\n% a whole comment line\nDEFG ABcd|]")).valid


@pytest.mark.parametrize(
    "body",
    ["[CEG DEFG A2|]", "(DEFG ABcd|]", "DEFG) ABcd|]", "{gDEFG ABcd|]", '"Am DEFG ABcd|]', "!trill DEFG ABcd|]"],
    ids=["chord", "slur-open", "slur-close", "grace", "quote", "decoration"],
)
def test_unbalanced_brackets_make_a_tune_invalid(body: str) -> None:
    assert not check_tune(tune(body)).valid


def test_a_tuplet_is_not_a_slur() -> None:
    assert check_tune(tune("(3ABc d2 (3ABc d2|(DE) F6|]")).valid


def test_stray_characters_are_problems() -> None:
    result = check_tune(tune("DEFG ABcd|DE 3 FG ABcd; |]"))
    assert not result.valid
    assert any("unexpected '3'" in problem for problem in result.problems)


def test_a_header_without_music_is_invalid() -> None:
    assert "no bars of music" in check_tune("X:1\nM:4/4\nL:1/8\nK:C\n").problems


def test_report_counts_tunes_and_the_valid_fraction() -> None:
    text = tune("DEFG ABcd|]") + "\n" + tune("DEFG ABcd|DEFG ABc|DEFG ABcd|]") + "\nfree text\n"
    report = report_text(text)
    assert report["tunes"] == 2
    assert report["valid_fraction"] == 0.5


def test_bars_of_rests_alone_are_counted() -> None:
    result = check_tune(tune("z8|DEFG z4|Z|z2 [DF]2 z4|x8|]"))
    assert result.valid and result.bars_checked == 5
    assert result.rest_bars == 3
    assert report_text(tune("z8|z8|DEFG ABcd|z8|]"))["rest_bar_fraction"] == 0.75


def test_report_on_text_without_tunes() -> None:
    assert report_text("no tunes here")["valid_fraction"] == 0.0


@needs_goldberg
def test_every_goldberg_movement_passes_the_check() -> None:
    files = sorted(f for f in GOLDBERG.glob("*.abc") if "mxl" not in f.name)
    results = [check_tune(read_tunes(file)[0].text) for file in files]
    bars = sum(result.bars_checked for result in results)
    failed = sum(result.bars_failed for result in results)
    assert len(results) == 32
    assert sum(result.valid for result in results) == 32
    assert bars > 10_000
    assert 1 - failed / bars >= 0.95


@needs_goldberg
def test_nearly_all_bars_of_the_musicxml_conversion_pass() -> None:
    (whole,) = read_tunes(GOLDBERG / "goldberg-variations-from-mxl.abc")
    result = check_tune(whole.text)
    assert result.bars_checked > 7_000
    assert result.bar_pass_fraction >= 0.95
    assert result.problem_count == result.bars_failed  # every problem is a bar length, none a parse failure


@pytest.mark.parametrize(
    ("cut", "kept"),
    [
        ("| g3 a b2 e3 ^", "| g3 a b2 e3"),
        ("| C D E F G A B c | [V:", "| C D E F G A B c |"),
        ('| C D "Am', "| C D"),
        ("| C D !tri", "| C D"),
        ("| C {ag", "| C"),
        ("| (3", "|"),
        ("| C D [CE", "| C D"),
        ("| C D E F |", "| C D E F |"),
        ('| "Am" C !trill! D [CE] |', '| "Am" C !trill! D [CE] |'),
    ],
)
def test_the_token_a_cut_left_unfinished_is_dropped(cut: str, kept: str) -> None:
    assert drop_unfinished_end("X:1\nK:C\n" + cut) == "X:1\nK:C\n" + kept


def test_a_tune_cut_mid_token_passes_only_when_cuts_are_expected() -> None:
    cut = tune("D2 F2 A2 d2 | (c2 B2 A2 ^")
    assert not check_tune(cut).valid
    assert check_tune(cut, unfinished=True).valid
    assert report_text(cut, unfinished=True)["valid_fraction"] == 1.0
    too_long = check_tune(tune("D2 F2 A2 d2 | c2 B2 A2 G2 A2 | A4 ^"), unfinished=True)
    assert not too_long.valid and too_long.bars_failed == 1


@needs_goldberg
def test_openings_of_the_goldberg_movements_cut_anywhere_pass_as_unfinished() -> None:
    texts = [read_tunes(file)[0].text for file in sorted(GOLDBERG.glob("*bwv-988.abc"))]
    openings = [text[:length] for text in texts for length in range(1400, 1600, 7)]
    assert sum(check_tune(opening, unfinished=True).valid for opening in openings) == len(openings)
