"""The one line of an error a person needs: the part that names the cause, without the preamble."""

from __future__ import annotations

#: A line holding one of these names the cause in a message whose first lines only introduce it (torch's
#: weights-only refusal names the offending class on such a line, after advice that does not apply).
SPECIFIC_MARKERS: tuple[str, ...] = ("WeightsUnpickler error",)


def error_line(error: BaseException | str, *, with_type: bool = False) -> str:
    """The line of ``error``'s message that says what went wrong.

    That is a line carrying one of :data:`SPECIFIC_MARKERS`, else the first line that does not merely
    introduce the ones below it (``Error(s) in loading state_dict for X:``), else the first line.
    ``with_type`` puts the exception's type in front: ``ValueError: model.dropout must be in [0, 1)``.
    """
    text = error if isinstance(error, str) else str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    specific = [line for line in lines if any(marker in line for marker in SPECIFIC_MARKERS)]
    statements = [line for line in lines if not line.endswith(":")]
    line = (specific or statements or lines or [""])[0]
    if with_type and not isinstance(error, str):
        return f"{type(error).__name__}: {line}" if line else type(error).__name__
    return line
