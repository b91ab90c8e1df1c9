"""Is a tune well-formed ABC? Headers, bar lengths in every voice, and balanced brackets.

``check_tune(text)`` reads one tune and answers with a ``CheckResult``: valid or not, how many bars
were checked, how many failed, and the first few problems, each naming the line, voice and bar.
``report_text(text)`` sums the verdicts over every tune of a text (a file of samples). Sampled
tunes stop wherever the sampler's length runs out; checked with ``unfinished=True`` a token left
unfinished at the very end (``... e3 ^``, ``[V:``) and slurs still open are not held against them.

What is checked:

- the header has ``X:``, ``M:``, ``L:`` and ``K:`` fields;
- in every voice each bar adds up to the meter, counting note lengths in units of ``L`` (``A2``,
  ``A/2``, ``A/``, ``A3/2``), broken rhythm (``A>B``, ``A<<B``), chords (``[CEG]2``: the first
  note's length times the chord's own), rests (``z``, ``x``, ``Z`` for whole bars), tuplets
  (``(3abc``, ``(p:q:r``); grace notes (``{...}``) take no time. Inline fields ``[M:..]`` and
  ``[L:..]`` (and ``M:``/``L:`` lines in the body) change the meter or unit length of the current
  voice; ``[V:n]`` and ``V:n`` switch voices;
- a bar may be short (not long) where music legitimately has one: the first bar of a voice or of a
  section (a pickup), the last bar of a voice or of a section (the rest of that pickup). Sections are
  delimited by repeat and double bar lines (``|:``, ``:|``, ``::``, ``||``, ``|]``, ``[|``),
  endings (``[1``, ``|2``) and meter changes;
- brackets balance: chords ``[ ]``, slurs ``( )`` (a tuplet's ``(3`` is no slur), grace notes
  ``{ }``, quoted chord symbols and annotations ``" "``, decorations ``! !`` (and the older ``+ +``);
- nothing else appears in the music: a stray digit or symbol is a problem.

Decorations (``!trill!``, ``~``, ``.``, ``H``-``W``, ``h``-``w``), ties, accidentals, octave marks,
``%`` comments and ``\\`` line continuations are read and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from seqkit.plugins.abc.notation import FIELD_LINE, INLINE_FIELD, normalise_newlines, split_tunes

REQUIRED_HEADERS = ("X", "M", "L", "K")
#: Letters that stand for decorations (ABC 2.1: ``H``-``W`` and ``h``-``w`` may be redefined).
DECORATION_LETTERS = frozenset("HIJKLMNOPQRSTUVWhijklmnopqrstuvw~.")
#: Spacing, score line breaks, ties and line continuations: they take no time and open nothing.
IGNORED = frozenset(" \t`$*\\-")

_LENGTH = re.compile(r"(\d+)?(?:(/+)(\d+)?)?")
_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])([',]*)")
_BARLINE = re.compile(r"\.?(?:::+\|*:*|:*(?:\[\||\|+\]?):*)(?:\[?\d+(?:[,-]\d+)*)?")
_ENDING = re.compile(r"\[\d+(?:[,-]\d+)*")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
#: What a text cut off mid-token can end with: an accidental, or a slur or tuplet opener, before its note.
_DANGLING_END = re.compile(r"(?:\^{1,2}|_{1,2}|=|\(\d*(?::\d*){0,2})$")
#: Groups a cut can leave open on the last line: (opener, closer).
_GROUPS = (("[", "]"), ("{", "}"), ('"', '"'), ("!", "!"))


@dataclass
class CheckResult:
    """The verdict on one tune; ``problems`` holds the first few problems found."""

    valid: bool
    bars_checked: int
    bars_failed: int
    problems: list[str] = field(default_factory=list)
    #: Bars that hold rests and no note (a sampler stuck repeating ``z12 |`` writes valid bars of nothing).
    rest_bars: int = 0
    problem_count: int = 0

    @property
    def bar_pass_fraction(self) -> float:
        return 1.0 - self.bars_failed / self.bars_checked if self.bars_checked else 0.0


def parse_meter(value: str) -> Fraction | None:
    """The length of one bar as a fraction of a whole note; ``None`` for free meter (``M:none``)."""
    value = value.strip().split()[0] if value.strip() else ""
    if value in ("", "none"):
        return None
    if value == "C":
        return Fraction(4, 4)
    if value == "C|":
        return Fraction(2, 2)
    match = re.fullmatch(r"\(?([\d+]+)\)?/(\d+)", value)
    beats = sum(int(n) for n in match.group(1).split("+") if n) if match else 0
    if match is None or beats == 0 or int(match.group(2)) == 0:
        raise ValueError(f"cannot read meter {value!r}")
    return Fraction(beats, int(match.group(2)))


def parse_unit(value: str) -> Fraction:
    """The unit note length of an ``L:`` field (``1/8``)."""
    match = re.fullmatch(r"(\d+)(?:/(\d+))?", value.strip().split()[0] if value.strip() else "")
    if match is None or int(match.group(1)) == 0 or int(match.group(2) or 1) == 0:
        raise ValueError(f"cannot read unit note length {value!r}")
    return Fraction(int(match.group(1)), int(match.group(2) or 1))


def default_unit(meter: Fraction | None) -> Fraction:
    """The standard's unit length when ``L:`` is missing: 1/16 below 3/4, else 1/8."""
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)


def parse_length(text: str, start: int) -> tuple[Fraction, int]:
    """A note length multiplier (``2``, ``/``, ``3/2``, ``//``) at ``text[start:]`` and where it ends."""
    match = _LENGTH.match(text, start)
    numerator = int(match.group(1)) if match.group(1) else 1
    slashes, denominator = match.group(2), match.group(3)
    if not slashes:
        return Fraction(numerator), match.end()
    if denominator:
        return Fraction(numerator, int(denominator) or 1), match.end()
    return Fraction(numerator, 2 ** len(slashes)), match.end()


def default_tuplet_time(notes: int, meter: Fraction | None) -> int:
    """``q`` of a tuplet ``(p`` when not written: the ABC standard's table."""
    if notes in (2, 4, 8):
        return 3
    if notes in (3, 6):
        return 2
    compound = meter is not None and meter.numerator % 3 == 0 and meter.numerator > 3
    return 3 if compound else 2


@dataclass
class _Voice:
    """Where one voice stands: its meter and unit, the bar being read, and a short bar awaiting judgement."""

    name: str
    meter: Fraction | None
    unit: Fraction
    bar: int = 0
    total: Fraction = Fraction(0)
    has_music: bool = False
    has_note: bool = False  # a bar of rests alone has music but no note
    whole_bar_rest: bool = False
    overlay: bool = False
    section_start: bool = True
    pending: str | None = None  # description of a short bar that is fine only if it ends a section
    tuplet_left: int = 0
    tuplet_factor: Fraction = Fraction(1)
    last_duration: Fraction = Fraction(0)
    broken_next: Fraction | None = None


class TuneChecker:
    """Reads a tune line by line, keeping one ``_Voice`` per voice, and collects problems."""

    def __init__(self, max_problems: int, unfinished: bool = False):
        self.max_problems = max_problems
        self.unfinished = unfinished
        self.problems: list[str] = []
        self.problem_count = 0
        self.bars_checked = 0
        self.bars_failed = 0
        self.rest_bars = 0
        self.meter: Fraction | None = None
        self.unit: Fraction | None = None
        self.voices: dict[str, _Voice] = {}
        self.voice: _Voice | None = None
        self.slurs = 0
        self.line = 0

    # -- reporting ---------------------------------------------------------------------------------

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(f"line {self.line}: {message}")

    def bar_failed(self, description: str) -> None:
        self.bars_checked += 1
        self.bars_failed += 1
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(description)

    def bar_passed(self) -> None:
        self.bars_checked += 1

    # -- voices, meters and bars -------------------------------------------------------------------

    def current(self) -> _Voice:
        if self.voice is None:
            self.switch_voice("")
        return self.voice

    def switch_voice(self, name: str) -> None:
        if name not in self.voices:
            unit = self.unit if self.unit is not None else default_unit(self.meter)
            self.voices[name] = _Voice(name, self.meter, unit)
        self.voice = self.voices[name]

    def set_field(self, letter: str, value: str, in_body: bool) -> None:
        try:
            if letter == "M":
                meter = parse_meter(value)
                if in_body:
                    voice = self.current()
                    if voice.pending is not None:  # a meter change ends a section
                        voice.pending = None
                        self.bar_passed()
                    voice.meter = meter
                    voice.section_start = voice.section_start or not voice.has_music
                else:
                    self.meter = meter
            elif letter == "L":
                if in_body:
                    self.current().unit = parse_unit(value)
                else:
                    self.unit = parse_unit(value)
            elif letter == "V" and in_body:
                parts = value.split()
                self.switch_voice(parts[0] if parts else "")
        except ValueError as error:
            self.problem(str(error))

    def describe_bar(self, voice: _Voice, message: str) -> str:
        where = f"voice {voice.name}, " if voice.name else ""
        return f"line {self.line}, {where}bar {voice.bar}: {message}"

    def close_bar(self, section_mark: bool) -> None:
        """A bar line in the current voice: judge the bar it ends."""
        voice = self.current()
        if voice.has_music:
            voice.bar += 1
            self.rest_bars += not voice.has_note
            if voice.pending is not None:  # music followed the short bar, so it did not end a section
                self.bar_failed(voice.pending)
                voice.pending = None
            self.judge(voice, final=section_mark)
        elif section_mark and voice.pending is not None:
            voice.pending = None
            self.bar_passed()
        voice.section_start = section_mark or (voice.section_start and not voice.has_music)
        voice.total, voice.has_music, voice.has_note = Fraction(0), False, False
        voice.whole_bar_rest, voice.overlay = False, False

    def judge(self, voice: _Voice, final: bool) -> None:
        if voice.meter is None or voice.whole_bar_rest:
            self.bar_passed()
            return
        length = voice.total / voice.unit
        expected = voice.meter / voice.unit
        if voice.total == voice.meter:
            self.bar_passed()
        elif voice.total > voice.meter:
            self.bar_failed(self.describe_bar(voice, f"{_units(length)} units, meter needs {_units(expected)}"))
        elif voice.section_start or final:
            self.bar_passed()
        else:
            voice.pending = self.describe_bar(voice, f"{_units(length)} units, meter needs {_units(expected)}")

    def finish(self) -> None:
        for voice in self.voices.values():
            if voice.has_music:
                voice.bar += 1
                self.rest_bars += not voice.has_note
                if voice.pending is not None:
                    self.bar_failed(voice.pending)
                    voice.pending = None
                self.judge(voice, final=True)
            elif voice.pending is not None:
                self.bar_passed()
        if self.slurs > 0 and not self.unfinished:  # a cut-off text may close its slurs later
            self.problem(f"{self.slurs} slur(s) opened with '(' are never closed")

    # -- notes -------------------------------------------------------------------------------------

    def add_duration(self, multiplier: Fraction) -> None:
        voice = self.current()
        duration = multiplier * voice.unit
        if voice.tuplet_left > 0:
            duration *= voice.tuplet_factor
            voice.tuplet_left -= 1
        if voice.broken_next is not None:
            duration *= voice.broken_next
            voice.broken_next = None
        voice.has_music = True
        voice.last_duration = duration
        if not voice.overlay:
            voice.total += duration

    def broken_rhythm(self, symbol: str, count: int) -> None:
        voice = self.current()
        short = Fraction(1, 2**count)
        long = 2 - short
        before, after = (long, short) if symbol == ">" else (short, long)
        if not voice.overlay:
            voice.total += voice.last_duration * (before - 1)
        voice.broken_next = after

    # -- reading -----------------------------------------------------------------------------------

    def read_line(self, line: str) -> None:
        """One line of music."""
        chord_first: Fraction | None = None
        in_chord = False
        i = 0
        while i < len(line):
            c = line[i]
            if c == "%":
                break
            if c in IGNORED:
                i += 1
                continue
            if c in '"!+{':
                closing = {"{": "}"}.get(c, c)
                end = line.find(closing, i + 1)
                if end < 0:
                    self.problem(f"{c!r} opened at column {i + 1} is never closed on its line")
                    return
                i = end + 1
                continue
            if c == "[":
                field_match = INLINE_FIELD.match(line, i)
                if field_match is not None:
                    self.set_field(field_match.group(1), field_match.group(2), in_body=True)
                    i = field_match.end()
                    continue
                ending = _ENDING.match(line, i)
                if ending is not None:
                    self.current().section_start = True
                    i = ending.end()
                    continue
                if not line.startswith("[|", i):
                    if in_chord:
                        self.problem(f"chord opened inside a chord at column {i + 1}")
                    in_chord, chord_first = True, None
                    i += 1
                    continue
            if c == "]" and in_chord:
                in_chord = False
                multiplier, i = parse_length(line, i + 1)
                self.add_duration((chord_first or Fraction(0)) * multiplier)
                continue
            barline = _BARLINE.match(line, i) if c in "|:[." else None
            if barline is not None and barline.end() > i:
                if in_chord:
                    self.problem(f"chord not closed before the bar line at column {i + 1}")
                    in_chord = False
                text = barline.group(0)
                self.close_bar(section_mark=text.strip(".") != "|")
                i = barline.end()
                continue
            if c == "(":
                tuplet = _TUPLET.match(line, i)
                if tuplet is not None:
                    notes = int(tuplet.group(1))
                    voice = self.current()
                    time = int(tuplet.group(2)) if tuplet.group(2) else default_tuplet_time(notes, voice.meter)
                    voice.tuplet_factor = Fraction(time, notes or 1)
                    voice.tuplet_left = int(tuplet.group(3)) if tuplet.group(3) else notes
                    i = tuplet.end()
                else:
                    self.slurs += 1
                    i += 1
                continue
            if c == ")":
                if self.slurs == 0:
                    self.problem(f"')' at column {i + 1} closes no slur")
                else:
                    self.slurs -= 1
                i += 1
                continue
            if c in "><":
                count = len(line[i:]) - len(line[i:].lstrip(c))
                self.broken_rhythm(c, count)
                i += count
                continue
            note = _NOTE.match(line, i)
            if note is not None:
                self.current().has_note = True
                multiplier, i = parse_length(line, note.end())
                if in_chord:
                    chord_first = multiplier if chord_first is None else chord_first
                else:
                    self.add_duration(multiplier)
                continue
            if c in "zx":
                multiplier, i = parse_length(line, i + 1)
                self.add_duration(multiplier)
                continue
            if c in "Zy":
                _, i = parse_length(line, i + 1)
                if c == "Z":
                    self.current().whole_bar_rest = True
                    self.current().has_music = True
                continue
            if c in DECORATION_LETTERS:
                i += 1
                continue
            if c == "&":
                self.current().overlay = True
                i += 1
                continue
            self.problem(f"unexpected {c!r} at column {i + 1}")
            i += 1
        if in_chord:
            self.problem("chord '[' is never closed on its line")

    def read(self, text: str) -> set[str]:
        """Read the whole tune; returns the header fields seen."""
        headers: set[str] = set()
        in_body = False
        for self.line, line in enumerate(normalise_newlines(text).split("\n"), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("%"):
                continue
            field_match = FIELD_LINE.match(line)
            if field_match is not None:
                letter, value = field_match.group(1), field_match.group(2)
                if not in_body:
                    headers.add(letter)
                self.set_field(letter, value, in_body)
                in_body = in_body or letter == "K"
                continue
            if not in_body:
                in_body = True  # music without a K: field: read it anyway, the missing K is reported
            self.read_line(line)
        self.finish()
        return headers


def _units(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def drop_unfinished_end(text: str) -> str:
    """``text`` without the token a cut left unfinished at its very end.

    A stream of samples stops after a number of characters, wherever that falls: after an accidental
    before its note (``... g3 ^``), inside a chord or inline field (``[V:``), a chord symbol, a
    decoration or a grace group. That is where the text was cut, not a mistake in the music.
    """
    body = text.rstrip()
    line_start = body.rfind("\n") + 1
    cut = len(body)
    for opener, closer in _GROUPS:
        line = body[line_start:cut]
        if opener == closer:
            if line.count(opener) % 2:
                cut = line_start + line.rfind(opener)
        elif line.rfind(opener) > line.rfind(closer):
            cut = line_start + line.rfind(opener)
    body = body[:cut].rstrip()
    dangling = _DANGLING_END.search(body)
    return body[: dangling.start()].rstrip() if dangling else body


def check_tune(text: str, max_problems: int = 5, unfinished: bool = False) -> CheckResult:
    """Check one tune's text; see the module docstring for what is checked.

    ``unfinished``: the text may have been cut anywhere (a sample stopped by its length), so a token
    left unfinished at its very end (``drop_unfinished_end``) and slurs still open are no problems.
    """
    checker = TuneChecker(max_problems, unfinished)
    headers = checker.read(drop_unfinished_end(text) if unfinished else text)
    # Missing headers and missing music come first: they say more about a tune than any one bar.
    first = [f"missing {letter}: header field" for letter in REQUIRED_HEADERS if letter not in headers]
    if checker.bars_checked == 0:
        first.append("no bars of music")
    problems = (first + checker.problems)[:max_problems]
    problem_count = len(first) + checker.problem_count
    return CheckResult(
        valid=problem_count == 0,
        bars_checked=checker.bars_checked,
        bars_failed=checker.bars_failed,
        problems=problems,
        problem_count=problem_count,
        rest_bars=checker.rest_bars,
    )


def report_text(text: str, unfinished: bool = False) -> dict[str, Any]:
    """How many tunes a text of ABC holds and how well-formed they are (for ``summary.json``).

    ``unfinished``: tunes may be cut off anywhere (see ``check_tune``).
    """
    results = [check_tune(tune.text, unfinished=unfinished) for tune in split_tunes(text)]
    valid = sum(result.valid for result in results)
    bars = sum(result.bars_checked for result in results)
    failed = sum(result.bars_failed for result in results)
    resting = sum(result.rest_bars for result in results)
    return {
        "tunes": len(results),
        "valid_tunes": valid,
        "valid_fraction": valid / len(results) if results else 0.0,
        "bars_checked": bars,
        "bar_pass_fraction": 1.0 - failed / bars if bars else 0.0,
        "rest_bar_fraction": resting / bars if bars else 0.0,
    }
