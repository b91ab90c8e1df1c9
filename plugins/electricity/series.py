"""Reading a load series from a text file: checked cell by cell, on a regular time axis, optionally resampled.

Two layouts are read, told apart by the header line:

- the UCI ElectricityLoadDiagrams20112014 layout (``LD2011_2014.txt``): ``;`` separators, ``,`` decimal
  marks, quoted fields, an empty first header cell over the time stamps, one column per client;
- a plain CSV (``,`` separators, ``.`` decimals), such as the one-column extract ``elec_load.csv``
  (header ``Load``), with or without a time column.

Time stamps mark the END of each interval, as in the UCI file. A file without a time column gets the
axis ``start + step * row``. Every problem is reported as a :class:`DataFormatError` naming the file,
the line (1-based, as an editor shows it) or column, and what was expected.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class DataFormatError(ValueError):
    """A data file that cannot be read as a load series: the message names the file, the place and the fix."""


@dataclass(frozen=True)
class LoadSeries:
    """One column of readings on a regular time axis.

    ``times`` holds the end of each interval; ``step`` is the interval length.
    """

    values: np.ndarray
    times: pd.DatetimeIndex
    step: pd.Timedelta
    path: Path
    column: str

    def __len__(self) -> int:
        return len(self.values)

    @property
    def interval_starts(self) -> pd.DatetimeIndex:
        """When each interval begins: the time that calendar features and day boundaries refer to."""
        return self.times - self.step


def _list_columns(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _read_header(path: Path) -> tuple[list[str], str]:
    """The header cells and the separator, sniffed from the first line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first_line = handle.readline()
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{path}: not UTF-8 text ({error}); expected a CSV file of load readings") from error
    if not first_line.strip():
        raise DataFormatError(f"{path}: the file is empty (line 1 has no header); expected a header line and rows")
    separator = ";" if ";" in first_line else ","
    header = next(csv.reader([first_line.rstrip("\r\n")], delimiter=separator))
    return [cell.strip() for cell in header], separator


def _choose_columns(
    path: Path, header: list[str], column: str | None, time_column: str | None
) -> tuple[int, int | None]:
    """Positions of the value column and the time column (``None``: the file has none)."""
    if time_column is not None:
        if time_column not in header:
            raise DataFormatError(
                f"{path}: no time column {time_column!r}; available columns: {_list_columns(header)}. "
                "Set dataset.time_column to one of them, or to null when the file has no time column"
            )
        time_position: int | None = header.index(time_column)
    else:
        # The UCI layout leaves the header cell over its time stamps empty.
        time_position = 0 if header and header[0] == "" else None
    candidates = [name for position, name in enumerate(header) if position != time_position]
    if column is None:
        if len(candidates) != 1:
            raise DataFormatError(
                f"{path}: {len(candidates)} value columns, so dataset.column must name one; "
                f"available columns: {_list_columns(candidates)}"
            )
        column = candidates[0]
    if column not in candidates:
        raise DataFormatError(
            f"{path}: no column {column!r}; available columns: {_list_columns(candidates)}. "
            "Set dataset.column (or dataset.client for the UCI file) to one of them"
        )
    return header.index(column), time_position


def _read_cells(path: Path, separator: str, positions: list[int]) -> pd.DataFrame:
    """The chosen columns as text; row ``k`` is line ``k + 2`` of the file (blank lines are kept as rows)."""
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            usecols=positions,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.ParserError as error:
        raise DataFormatError(f"{path}: {error} (line numbers count the header as line 1)") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{path}: not UTF-8 text ({error}); expected a CSV file of load readings") from error
    frame = frame.fillna("")
    # A file that ends in blank lines has nothing after them; only blank lines inside the data are errors.
    filled = (frame != "").any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    return frame.iloc[:last]


def _parse_numbers(path: Path, cells: pd.Series, column: str, decimal_comma: bool) -> np.ndarray:
    text = cells.str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        cell = cells.iloc[row]
        found = "an empty cell" if cell.strip() == "" else f"{cell!r}"
        mark = "decimal comma, e.g. 2,5" if decimal_comma else "decimal point, e.g. 2.5"
        raise DataFormatError(
            f"{path}, line {row + 2}, column {column!r}: found {found}; expected a finite number with a {mark} "
            f"({bad.size} such cell{'s' if bad.size > 1 else ''} in the file)"
        )
    return values


def _parse_times(path: Path, cells: pd.Series, column: str) -> tuple[pd.DatetimeIndex, pd.Timedelta]:
    times = pd.DatetimeIndex(pd.to_datetime(cells.str.strip(), format="ISO8601", errors="coerce"))
    bad = np.flatnonzero(times.isna())
    if bad.size:
        row = int(bad[0])
        raise DataFormatError(
            f"{path}, line {row + 2}, column {column!r}: found {cells.iloc[row]!r}; "
            "expected a time stamp such as 2011-01-01 00:15:00"
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


def read_series(
    path: str | Path,
    column: str | None = None,
    *,
    time_column: str | None = None,
    start: str = "2011-01-01 00:15:00",
    frequency: str = "15min",
) -> LoadSeries:
    """Read one column of ``path`` as a load series.

    ``column`` may be left out when the file has a single value column. ``time_column`` names the time
    stamps of a plain CSV (the UCI layout's unnamed first column is found by itself); without one the
    rows are ``frequency`` apart, the first ending at ``start``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file; expected a CSV or LD2011_2014.txt file of load readings")
    header, separator = _read_header(path)
    value_position, time_position = _choose_columns(path, header, column, time_column)
    positions = [value_position] if time_position is None else [time_position, value_position]
    cells = _read_cells(path, separator, positions)
    if len(cells) == 0:
        raise DataFormatError(f"{path}: the header is followed by no data rows; expected one row per reading")
    value_name = header[value_position]
    values = _parse_numbers(path, cells.iloc[:, positions.index(value_position)], value_name, separator == ";")
    if time_position is None:
        step = pd.Timedelta(frequency)
        times = pd.date_range(pd.Timestamp(start), periods=len(values), freq=step)
    else:
        time_name = header[time_position] or "(unnamed first column)"
        times, step = _parse_times(path, cells.iloc[:, positions.index(time_position)], time_name)
    return LoadSeries(values, pd.DatetimeIndex(times), pd.Timedelta(step), path, value_name)


def resample_series(series: LoadSeries, rule: str) -> LoadSeries:
    """Means over longer intervals (``rule``, e.g. ``"1h"``), stamped at their ends; partial intervals dropped."""
    try:
        new_step = pd.Timedelta(rule)
    except ValueError as error:
        raise ValueError(f"dataset.resample={rule!r} is not a duration; use e.g. '1h' or '30min'") from error
    if new_step < series.step or new_step % series.step != pd.Timedelta(0):
        raise ValueError(
            f"dataset.resample={rule!r} must be a whole multiple of the series' step {series.step} "
            f"({series.path}); use e.g. '1h'"
        )
    if new_step == series.step:
        return series
    frame = pd.Series(series.values, index=series.times).resample(new_step, closed="right", label="right")
    means, counts = frame.mean(), frame.count()
    complete = (counts == new_step // series.step).to_numpy()
    return LoadSeries(
        means.to_numpy(dtype=np.float64)[complete],
        pd.DatetimeIndex(means.index[complete]),
        new_step,
        series.path,
        series.column,
    )


def all_zero_day_rows(series: LoadSeries) -> np.ndarray:
    """Per row: whether the calendar day it lies in reads zero throughout (a meter outage)."""
    days = series.interval_starts.normalize()
    return pd.Series(series.values == 0).groupby(np.asarray(days)).transform("all").to_numpy(dtype=bool)
