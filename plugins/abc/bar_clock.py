"""How much of the current bar is left, read from ABC one character at a time.

A character model of ABC has to count: ``B3 A B2 D3 G B2 |`` is a bar of 3/4 in sixteenths only if
its lengths add up to 12, and an LSTM that must carry that sum in its state gets it wrong in about
half of the bars it writes. ``BarClock`` does the counting for it: fed a text character by
character, it says after each character how many units of ``L`` the current voice's bar still
lacks, counting every note and rest written so far (the last one as far as it is written: after
``B`` one unit, after ``B3`` three). The ABC dataset can feed these counts to the model beside the
characters (``dataset.bar_clock``) and the sampler feeds the same counts from the text it draws. The
count is a function of the text before it, so a model with it is still a character model and its bits
per character are still an honest measure; it learns where bars end, it is not told what to write.

The reading is the checker's (``seqkit.plugins.abc.check``): meters and unit lengths per voice, chords, tuplets,
broken rhythm, grace notes, inline fields. The counts are classes for an embedding:

- ``OUTSIDE`` (0): not in music (tune headers, field lines, comments, between tunes);
- ``UNCOUNTED`` (1): music whose bar cannot be counted in whole units (free meter, triplets);
- ``OVERFULL`` (2): the bar already holds more than the meter allows;
- ``3 + r``: ``r`` units left, ``r`` from 0 to ``MAX_UNITS`` (more is counted as ``MAX_UNITS``).
"""

from __future__ import annotations

import copy
from fractions import Fraction

from seqkit.plugins.abc.check import TuneChecker
from seqkit.plugins.abc.notation import FIELD_LINE

OUTSIDE, UNCOUNTED, OVERFULL = 0, 1, 2
#: The largest count of units left told apart; a bar of 4/4 in sixteenths needs 16, of 12/8 24.
MAX_UNITS = 48
#: Number of classes ``BarClock.feed`` returns.
CLASSES = 3 + MAX_UNITS + 1
#: Characters that hold a group open, and their closers: the text read so far is cut only where none is open.
_GROUPS = (("[", "]"), ("{", "}"))


def count_class(left: Fraction | None) -> int:
    """The class of a bar with ``left`` units to go (``None``: not countable)."""
    if left is None or left.denominator != 1:
        return UNCOUNTED
    if left < 0:
        return OVERFULL
    return 3 + min(int(left), MAX_UNITS)


class BarClock:
    """Reads ABC one character at a time; ``feed`` returns the bar count class after each character."""

    size = CLASSES

    def __init__(self) -> None:
        self.checker = TuneChecker(max_problems=0)
        self.in_tune = False
        self.in_body = False
        self.line = ""
        self.pending = ""  # the part of the current music line not yet read into the checker
        self.in_comment = False

    def feed(self, character: str) -> int:
        """The count class once ``character`` is read."""
        if character == "\n":
            self._end_line()
            return OUTSIDE
        self.line += character
        if not self.in_tune or self._field_line() or self.in_comment:
            return OUTSIDE
        if character == "%" and self._outside_quotes(self.pending):
            self.in_comment = True
            return OUTSIDE
        self.pending += character
        left = self._left(self.pending)
        if character == " " and self._closed(self.pending):
            # Every token before a space is complete: read it for good, so the text re-read stays short.
            self.checker.read_line(self.pending)
            self.pending = ""
        return count_class(left)

    def feed_text(self, text: str) -> list[int]:
        """The class after each character of ``text``."""
        return [self.feed(character) for character in text]

    def _field_line(self) -> bool:
        """Whether the current line is a header field (``M:3/4``, ``V:1``), read whole at its end."""
        if not self.in_body:
            return True
        return len(self.line) >= 2 and self.line[1] == ":" and (self.line[0].isalpha() or self.line[0] == "+")

    def _end_line(self) -> None:
        line, self.line = self.line, ""
        pending, self.pending = self.pending, ""
        self.in_comment = False
        if line.startswith("X:"):
            self.checker = TuneChecker(max_problems=0)
            self.in_tune, self.in_body = True, False
            return
        if not self.in_tune:
            return
        if not line.strip():  # a blank line ends the tune
            self.in_tune = False
            return
        match = FIELD_LINE.match(line)
        if match is not None and (not self.in_body or line[1] == ":"):
            self.checker.set_field(match.group(1), match.group(2), self.in_body)
            self.in_body = self.in_body or match.group(1) == "K"
        elif self.in_body and pending:
            self.checker.read_line(pending)

    def _left(self, pending: str) -> Fraction | None:
        """Units the current voice's bar lacks after reading ``pending`` on top of what is read for good."""
        scratch = copy.copy(self.checker)
        scratch.voices = {name: copy.copy(voice) for name, voice in self.checker.voices.items()}
        scratch.voice = scratch.voices.get(self.checker.voice.name) if self.checker.voice is not None else None
        scratch.problems = []
        scratch.read_line(pending)
        voice = scratch.current()
        if voice.whole_bar_rest:
            return Fraction(0)
        if voice.meter is None:
            return None
        return (voice.meter - voice.total) / voice.unit

    @staticmethod
    def _outside_quotes(text: str) -> bool:
        return text.count('"') % 2 == 0

    @staticmethod
    def _closed(text: str) -> bool:
        """No chord, inline field, grace group, annotation or decoration is open in ``text``."""
        if text.count('"') % 2 or text.count("!") % 2:
            return False
        return all(text.count(opener) == text.count(closer) for opener, closer in _GROUPS)


def bar_clock_classes(text: str) -> list[int]:
    """The bar count class after each character of ``text`` (see ``BarClock``)."""
    return BarClock().feed_text(text)
