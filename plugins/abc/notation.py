"""Reading ABC music notation as people write it: files, folders, and the tunes inside them.

An ABC file holds any number of tunes. A tune starts at an ``X:`` line (``X:1`` or ``X: 1``) and, as
the ABC standard has it, ends at the first blank line (or at the next ``X:`` line, whichever comes
first). Anything outside tunes (a file header of ``%`` comments or ``%%`` directives, copyright
blocks, free text between tunes) is not part of any tune. The tune header runs from ``X:`` to the
first ``K:`` line; its fields are kept in ``Tune.headers``.

Files are read as UTF-8 (a byte-order mark is dropped); bytes that are not UTF-8 fail naming the file
and the 1-based line. Line endings are normalised to ``\\n``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: ``X:1``, ``T: Title``, ``%%`` excluded: a field line is one letter (or ``+``), a colon, a value.
FIELD_LINE = re.compile(r"^([A-Za-z+]):\s?(.*)$")
#: ``[K:G]``, ``[V:1]``, ``[M:3/4]``: fields written inside a music line.
INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")


class AbcReadError(ValueError):
    """An ABC file that cannot be read (missing, not UTF-8, no tunes)."""


@dataclass
class Tune:
    """One tune of an ABC file.

    ``index`` is the tune's 0-based position in its file and ``line`` the 1-based line of its ``X:``
    field. ``headers`` maps each field letter of the header (``X`` to the first ``K``) to its first
    value; ``voices`` lists the voice ids in the order they first appear (``V:`` lines and ``[V:]``
    fields anywhere in the tune). ``text`` is the tune as written, ending with a newline.
    """

    file: str
    index: int
    title: str
    headers: dict[str, str]
    text: str
    line: int = 1
    voices: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        """The file name without its suffix (``variation-23-bwv-988``)."""
        return Path(self.file).stem

    @property
    def name(self) -> str:
        """A readable unique-ish name: the file stem, plus the tune's index when the file holds several."""
        return self.stem if self.index == 0 else f"{self.stem}#{self.index}"


def has_music(tune: Tune) -> bool:
    """Whether a tune holds any music: a line after its ``K:`` header line that is not a field, a ``%``
    comment or a ``%%`` directive (``[V:1] abc|`` counts; a tune with no ``K:`` line has none)."""
    lines = tune.text.split("\n")
    header_end = next((i for i, line in enumerate(lines) if (m := FIELD_LINE.match(line)) and m.group(1) == "K"), None)
    if header_end is None:
        return False
    return any(
        line.strip() and FIELD_LINE.match(line) is None and not line.lstrip().startswith("%")
        for line in lines[header_end + 1 :]
    )


def normalise_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_comment_line(line: str) -> bool:
    """A line holding only a ``%`` comment (``%%`` directives are instructions, not comments)."""
    stripped = line.lstrip()
    return stripped.startswith("%") and not stripped.startswith("%%")


def _voice_id(value: str) -> str:
    parts = value.split()
    return parts[0] if parts else ""


def parse_headers(lines: Iterable[str]) -> dict[str, str]:
    """The first value of each field in a tune header; the header ends after the first ``K:`` line."""
    headers: dict[str, str] = {}
    for line in lines:
        match = FIELD_LINE.match(line)
        if match is None:
            continue
        letter, value = match.group(1), match.group(2).strip()
        headers.setdefault(letter, value)
        if letter == "K":
            break
    return headers


def voices_of(lines: Iterable[str]) -> list[str]:
    """Voice ids of a tune in order of first appearance, from ``V:`` lines and ``[V:..]`` fields."""
    voices: list[str] = []
    for line in lines:
        found = []
        match = FIELD_LINE.match(line)
        if match is not None and match.group(1) == "V":
            found.append(_voice_id(match.group(2)))
        found += [_voice_id(value) for letter, value in INLINE_FIELD.findall(line) if letter == "V"]
        for voice in found:
            if voice and voice not in voices:
                voices.append(voice)
    return voices


def split_tunes(text: str, file: str = "<text>", drop_comments: bool = False) -> list[Tune]:
    """The tunes in ABC ``text``, in order; ``file`` names where the text came from.

    With ``drop_comments`` lines holding only a ``%`` comment are left out of each tune's text.
    """
    tunes: list[Tune] = []
    current: list[str] | None = None
    start_line = 0

    def close() -> None:
        if current:
            tunes.append(_make_tune(current, file, len(tunes), start_line))

    for number, line in enumerate(normalise_newlines(text).split("\n"), start=1):
        match = FIELD_LINE.match(line)
        if match is not None and match.group(1) == "X":
            close()
            current, start_line = [line], number
        elif current is None:
            continue  # free text outside any tune
        elif not line.strip():
            close()
            current = None
        elif not (drop_comments and is_comment_line(line)):
            current.append(line)
    close()
    return tunes


class TuneCounter:
    """Counts complete tunes in text fed one character at a time, by :func:`split_tunes`' rule.

    A tune starts at a line beginning with ``X:`` and is complete at the next blank line or at the
    next ``X:`` line. ``cut`` is where the text should end once enough tunes are complete: after the
    blank line, or before the ``X:`` that completed the last one.
    """

    def __init__(self) -> None:
        self.complete = 0
        self.cut: int | None = None
        self._in_tune = False
        self._line = ""
        self._position = 0

    def feed(self, character: str) -> None:
        line_start = self._position - len(self._line)
        self._position += 1
        if character == "\n":
            if self._in_tune and not self._line.strip():
                self.complete += 1
                self._in_tune = False
                self.cut = self._position
            self._line = ""
            return
        self._line += character
        if self._line == "X:":
            if self._in_tune:
                self.complete += 1
                self.cut = line_start
            self._in_tune = True


def _make_tune(lines: list[str], file: str, index: int, line: int) -> Tune:
    headers = parse_headers(lines)
    title = headers.get("T") or Path(file).stem
    return Tune(
        file=file,
        index=index,
        title=title,
        headers=headers,
        text="\n".join(lines) + "\n",
        line=line,
        voices=voices_of(lines),
    )


def read_text(path: Path) -> str:
    """A file's text as UTF-8 with newlines normalised; undecodable bytes fail naming file and line."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AbcReadError(f"cannot read ABC file {path}: {error}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise AbcReadError(
            f"{path}, line {line}: byte {data[error.start : error.start + 1]!r} is not UTF-8 ({error.reason}); "
            "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
        ) from error
    return normalise_newlines(text)


def abc_files(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.abc`` file below it, sorted by path."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.abc") if p.is_file())
        if not files:
            raise AbcReadError(f"no .abc files in folder {path}")
        return files
    raise AbcReadError(f"ABC path {path} does not exist; pass a .abc file or a folder of them")


def read_tunes(path: Path, drop_comments: bool = False) -> list[Tune]:
    """Every tune in an ABC file or in the ``.abc`` files of a folder, in file order."""
    tunes: list[Tune] = []
    for file in abc_files(Path(path)):
        found = split_tunes(read_text(file), file=str(file), drop_comments=drop_comments)
        if not found:
            raise AbcReadError(f"{file} holds no tune: no line starts with 'X:'")
        tunes += found
    return tunes
