"""Finding a load file's time column and reading its time stamps as a regular axis with one step.

Time stamps mark the END of each interval, as in the UCI file. The time column of a plain CSV is
``time_column`` when given; else a column named like ``time``/``timestamp``/``date``/``datetime``, or
the first column, whose cells are date-times. The UCI layout's is its unnamed first column. The stamps
must be evenly spaced and increasing; their spacing is the series' step.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from seqkit.plugins.electricity.csv_cells import DataFormatError, list_columns

#: Header names taken for a time column, compared in lower case without spaces, ``_`` or ``-``.
TIME_NAMES = frozenset({"time", "times", "timestamp", "timestamps", "date", "dates", "datetime", "datetimes"})
#: A cell that starts like a date or a time of day: ``2013-01-01``, ``2013/01/01``, ``01.02.2013``, ``01:00``.
TIME_LIKE = re.compile(
    r"\s*(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\d{1,2}:\d{2})"
)


def is_time_name(name: str) -> bool:
    """Whether a header cell names a time column: ``time``, ``Timestamp``, ``date_time``, ``Date Time (UTC)``..."""
    letters = re.sub(r"[^a-z]", "", name.lower())
    return letters in TIME_NAMES or letters.removesuffix("utc") in TIME_NAMES


def given_time_position(path: Path, header: list[str], time_column: str | None) -> int | None:
    """The position of the time column the caller names, or of the UCI layout's; ``None``: to be found."""
    if time_column is not None:
        if time_column not in header:
            raise DataFormatError(
                f"{path}: no time column {time_column!r}; available columns: {list_columns(header)}. "
                "Set dataset.time_column to one of them, or to null when the file has no time column"
            )
        return header.index(time_column)
    # The UCI layout leaves the header cell over its time stamps empty.
    return 0 if header and header[0] == "" else None


def find_time_column(
    path: Path, header: list[str], columns: dict[int, pd.Series], column: str | None
) -> tuple[int | None, list[tuple[int, int]]]:
    """The position of the column that holds time stamps: named like a time column, or the first column,
    and its first filled cell a date-time. ``None`` when there is none; two such columns are an error.

    Also returns, when none is found, the columns named like a time column that hold no date-time, each
    as its position and the row of its first filled cell (the caller warns about them); else ``[]``.
    """
    named = [position for position, name in enumerate(header) if is_time_name(name)]
    found: list[int] = []
    misnamed: list[tuple[int, int]] = []
    for position in dict.fromkeys([*named, 0]):
        if header[position] == column or position not in columns:
            continue
        text = columns[position].str.strip()
        filled = text[text != ""]
        if len(filled) and TIME_LIKE.match(filled.iloc[0]):
            found.append(position)
        elif len(filled) and position in named:
            misnamed.append((position, int(filled.index[0])))
    if len(found) > 1:
        raise DataFormatError(
            f"{path}: columns {list_columns([header[position] for position in found])} all hold date-times; "
            "set dataset.time_column to the one that holds each reading's date and time (interval ends)"
        )
    return (found[0], []) if found else (None, misnamed)


def parse_times(
    path: Path, cells: pd.Series, column: str, found: bool = False
) -> tuple[pd.DatetimeIndex, pd.Timedelta]:
    """The time stamps in ``cells`` and their step; ``found``: the column was found by its stamps (said
    in the error for a cell that is no time stamp)."""
    times = pd.DatetimeIndex(pd.to_datetime(cells.str.strip(), format="ISO8601", errors="coerce"))
    bad = np.flatnonzero(times.isna())
    if bad.size:
        row = int(bad[0])
        why = f" (column {column!r} is the time axis: its first cell is a date-time)" if found else ""
        raise DataFormatError(
            f"{path}, line {row + 2}, column {column!r}: found {cells.iloc[row]!r}; "
            f"expected a time stamp such as 2011-01-01 00:15:00{why}"
        )
    if len(times) < 2:
        raise DataFormatError(f"{path}: only {len(times)} row; expected at least two rows to fix the time step")
    steps = times[1:] - times[:-1]
    step = steps[0]
    irregular = np.flatnonzero((steps != step) | (steps <= pd.Timedelta(0)))
    if step <= pd.Timedelta(0) or irregular.size:
        row = int(irregular[0]) + 1 if irregular.size else 1
        raise DataFormatError(
            f"{path}, line {row + 2}, column {column!r}: time stamp {times[row]} follows {times[row - 1]}; "
            f"expected evenly spaced, increasing time stamps {step} apart (fill or drop the gap first)"
        )
    return times, step


def step_text(step: pd.Timedelta) -> str:
    """A step as a short string: ``15min``, ``1h``, ``1D``, ``30s``."""
    for unit in ("1D", "1h", "1min", "1s"):
        if step % pd.Timedelta(unit) == pd.Timedelta(0):
            return f"{step // pd.Timedelta(unit)}{unit[1:]}"
    return str(step)


def is_frequency(frequency: str, step: pd.Timedelta) -> bool:
    """Whether ``frequency`` (e.g. ``dataset.frequency``) is a duration equal to ``step``."""
    try:
        return pd.Timedelta(frequency) == step
    except ValueError:
        return False
