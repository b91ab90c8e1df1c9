"""Turning sampled ABC tunes into MIDI files, so that they can be listened to.

The conversion uses music21, an optional extra (``pip install seqkit[music]``): it is imported only
when a conversion is asked for, because it is slow to import and most runs never need it.

music21 reads multi-voice ABC in its own way, which does not suit the shape of the training data
(voices declared by ``V:`` lines after ``K:``, then one long body line per voice that starts with an
inline ``[V:n]`` field). :func:`normalise_voices` rewrites a tune into the shape music21 does read:
one ``V:n`` line per voice, followed by all of that voice's music.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import re
import warnings
from pathlib import Path
from typing import Any

from seqkit.plugins.abc.notation import FIELD_LINE, is_comment_line, split_tunes

#: What to install for MIDI export; named in messages when music21 is missing.
MIDI_EXTRA = "pip install seqkit[music]"

#: ``[V:1]`` or ``[V:2 name="x"]`` inside a music line; the id is the first word.
INLINE_VOICE = re.compile(r"\[V:\s*([^\]\s]*)([^\]]*)\]")
#: Longest error message kept in a summary.
MAX_ERROR_CHARS = 200


def midi_available() -> bool:
    """Whether music21 can be imported (without importing it)."""
    return importlib.util.find_spec("music21") is not None


def normalise_voices(tune_text: str) -> str:
    """``tune_text`` rewritten so that each voice is one ``V:n`` line followed by all its music.

    music21 (10.x) starts a new part at every ``V:`` *line* whose id begins with a digit and does not
    treat a line-leading ``[V:n]`` as a voice change. Read as written, a Goldberg movement gives one
    empty part per ``V:`` declaration and puts every voice's notes into the last declared part; the
    empty parts then make MIDI writing fail. So: voice declarations and inline voice fields are
    gathered per voice (a voice that comes back later, as sampled text often does, continues where it
    stopped), voices without music are left out (a tune cut off before a voice starts would otherwise
    give an empty part), and voices are renumbered 1, 2, ... because music21 only splits at ids that
    start with a digit. A tune without voices is returned unchanged.
    """
    lines = tune_text.rstrip("\n").split("\n")
    header: list[str] = []
    order: list[str] = []  # voice ids in order of first appearance
    attributes: dict[str, str] = {}  # first non-empty ``name="..."`` etc. of each voice
    music: dict[str, list[str]] = {}
    before_voices: list[str] = []  # music written before any voice is named belongs to the first voice
    current: str | None = None
    in_header = True

    def switch(voice_id: str, rest: str) -> None:
        nonlocal current
        if voice_id not in music:
            order.append(voice_id)
            music[voice_id] = []
        if rest.strip() and voice_id not in attributes:
            attributes[voice_id] = rest.strip()
        current = voice_id

    def add(segment: str) -> None:
        (music[current] if current is not None else before_voices).append(segment)

    for line in lines:
        field = FIELD_LINE.match(line)
        if field is not None and field.group(1) == "V":
            voice_id, _, rest = field.group(2).strip().partition(" ")
            switch(voice_id, rest)
            continue
        if in_header:
            header.append(line)
            in_header = not (field is not None and field.group(1) == "K")
            continue
        position = 0
        for inline in INLINE_VOICE.finditer(line):
            if line[position : inline.start()].strip():
                add(line[position : inline.start()].strip())
            switch(inline.group(1), inline.group(2))
            position = inline.end()
        if line[position:].strip():
            add(line[position:].strip())

    if not order:
        return tune_text
    music[order[0]][:0] = before_voices
    out = list(header)
    playable = [voice for voice in order if any(_is_music(segment) for segment in music[voice])]
    for number, voice in enumerate(playable, start=1):
        out.append(f"V:{number} {attributes[voice]}" if voice in attributes else f"V:{number}")
        out.extend(music[voice])
    return "\n".join(out) + "\n"


def trim_unfinished(tune_text: str) -> str:
    """``tune_text`` without a ``[`` field or chord left open at its very end (``... | B2 [V:``).

    Sampled tunes are often cut off mid-token; music21 rejects a whole tune over one unclosed ``[``,
    while the music before it is fine.
    """
    body = tune_text.rstrip("\n")
    last_line = body.rsplit("\n", 1)[-1]
    opening = last_line.rfind("[")
    if opening <= last_line.rfind("]"):
        return tune_text
    return body[: len(body) - len(last_line) + opening].rstrip() + "\n"


def _is_music(segment: str) -> bool:
    return not is_comment_line(segment) and FIELD_LINE.match(segment) is None


def _repair_for_midi(score: Any) -> None:
    """Fix two shapes music21's ABC reader produces that its own MIDI writer then rejects."""
    from music21 import key, meter, stream, tempo

    # Measures are made only for a voice with two or more bars, and the MIDI writer (which expands
    # repeats part by part) fails when some parts have measures and others not; a cut-off sample
    # whose last voice holds a single bar is exactly that.
    if score[stream.Measure]:
        for part in score.parts:
            if not part[stream.Measure]:
                part.makeMeasures(inPlace=True)
    # After a bar of the wrong length (common in samples) the reader puts the *same* time signature
    # object into several later measures; the MIDI writer gathers them into one track and refuses
    # the repeated object. Give every repeat its own copy.
    seen: set[int] = set()
    for container in list(score.recurse(streamsOnly=True, includeSelf=True)):
        for mark in list(container.getElementsByClass((meter.TimeSignature, key.KeySignature, tempo.MetronomeMark))):
            if id(mark) in seen:
                container.replace(mark, copy.deepcopy(mark))
            seen.add(id(mark))


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    message = lines[0][:MAX_ERROR_CHARS] if lines else ""
    return f"{type(error).__name__}: {message}"


def export_midi(text: str, out_dir: Path, stem: str) -> dict[str, Any]:
    """Write each ABC tune of ``text`` to ``out_dir/<stem>-<n>.mid`` and say what was written.

    ``n`` counts tunes from 1, zero-padded to the width of the tune count. A tune music21 cannot read
    or write, or that holds no notes, is skipped and listed under ``"failed"`` with its number and
    error; the others are still written.
    Returns ``{"files": [names], "failed": [{"tune": n, "error": "Type: message"}]}``.
    Raises ``ModuleNotFoundError`` when music21 is not installed.
    """
    if not midi_available():
        raise ModuleNotFoundError(f"MIDI export needs music21; install it with: {MIDI_EXTRA}", name="music21")
    from music21 import converter

    tunes = split_tunes(text)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width = len(str(len(tunes)))
    files: list[str] = []
    failed: list[dict[str, Any]] = []
    for number, tune in enumerate(tunes, start=1):
        path = out_dir / f"{stem}-{number:0{width}d}.mid"
        try:
            # music21 reports oddities of damaged input ("Could not get pitch information ...") by
            # writing to stderr and through warnings; they would drown the run's own output, and what
            # matters (an exception) is recorded below.
            quiet = io.StringIO()
            with warnings.catch_warnings(), contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
                warnings.simplefilter("ignore")
                score = converter.parse(normalise_voices(trim_unfinished(tune.text)), format="abc")
                if not score.recurse().notes:
                    # Garbage that music21 reads as nothing would otherwise give a silent file.
                    raise ValueError("no notes to write")
                _repair_for_midi(score)
                score.write("midi", fp=str(path))
        # music21 fails on bad input with many unrelated exception types (its own, IndexError,
        # ZeroDivisionError, ...); any of them only means this tune is unusable.
        except Exception as error:  # noqa: BLE001
            path.unlink(missing_ok=True)
            failed.append({"tune": number, "error": _describe(error)})
        else:
            files.append(path.name)
    return {"files": files, "failed": failed}
