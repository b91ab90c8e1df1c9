"""Reading a load series from a text file: checked cell by cell, on a regular time axis, optionally resampled.

Two layouts are read, told apart by the header line:

- the UCI ElectricityLoadDiagrams20112014 layout (``LD2011_2014.txt``): ``;`` separators, ``,`` decimal
  marks, quoted fields, an empty first header cell over the time stamps, one column per client;
- a plain CSV (``,`` separators, ``.`` decimals), such as the one-column extract ``elec_load.csv``
  (header ``Load``), with or without a time column.

Time stamps mark the END of each interval, as in the UCI file. The time column of a plain CSV is
``time_column`` when given; else a column named like ``time``/``timestamp``/``date``/``datetime``, or
the first column, whose cells are date-times (said in a log line). The series' step is always the
step of those stamps, whatever ``frequency`` says. Only a file without a time column gets the axis
``start + frequency * row``. A plain CSV whose value column is written with decimal commas is read
with a logged notice when that is the only reading.

This module puts the reading together and logs what it decided; the cells and numbers are read by
:mod:`~seqkit.plugins.electricity.csv_cells`, the time column by :mod:`~seqkit.plugins.electricity.time_axis`.
Every problem is reported as a :class:`DataFormatError` naming the file, the line (1-based, as an
editor shows it) or column, and what was expected. ``LoadSeries.files`` holds the resolved path of
the file read, so a run can record it (and its checksum).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seqkit.datafiles import not_a_file
from seqkit.plugins.electricity.csv_cells import (
    DataFormatError,
    choose_column,
    join_decimal_commas,
    parse_numbers,
    read_cells,
    read_header,
    too_many_fields,
)
from seqkit.plugins.electricity.time_axis import (
    find_time_column,
    given_time_position,
    is_frequency,
    is_time_name,
    parse_times,
    step_text,
)

__all__ = ["EXPECTED_FILE", "DataFormatError", "LoadSeries", "all_zero_day_rows", "read_series", "resample_series"]

log = logging.getLogger(__name__)

EXPECTED_FILE = "a CSV or LD2011_2014.txt file of load readings"


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
    #: The resolved (absolute) paths of the files the series was read from, resolved when read.
    files: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if not self.files:
            object.__setattr__(self, "files", (Path(self.path).resolve(),))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def interval_starts(self) -> pd.DatetimeIndex:
        """When each interval begins: the time that calendar features and day boundaries refer to."""
        return self.times - self.step


def _positions_to_read(header: list[str], column: str | None, time_position: int | None) -> list[int]:
    """The header positions worth reading in a wide file, each with the next (a decimal comma shifts later
    cells right by one)."""
    width = len(header)
    if column is None:
        wanted = set(range(width))
    else:
        wanted = {position for position, name in enumerate(header) if name == column}
        if time_position is not None:
            wanted.add(time_position)
        else:
            wanted |= {0} | {position for position, name in enumerate(header) if is_time_name(name)}
    return sorted(wanted | {position + 1 for position in wanted})


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
    stamps of a plain CSV; without it a column of date-times named like ``time``/``date`` or in first
    place is taken (and the UCI layout's unnamed first column). The series' step is the stamps' step,
    never ``frequency``; only a file without time stamps gets rows ``frequency`` apart, the first
    ending at ``start``. The result's ``files`` holds the file's resolved path.
    """
    path = Path(path)
    problem = not_a_file(path, EXPECTED_FILE)
    if problem is not None:
        raise DataFormatError(problem)
    header, separator = read_header(path)
    time_position = given_time_position(path, header, time_column)
    value_position = None if time_position is None else choose_column(path, header, column, time_position)
    frame = read_cells(path, separator, len(header), _positions_to_read(header, column, time_position))
    if len(frame) == 0:
        raise DataFormatError(f"{path}: the header is followed by no data rows; expected one row per reading")
    columns, comma_position, first_split = join_decimal_commas(path, frame, header, separator)
    found = False
    if time_position is None:
        time_position, misnamed = find_time_column(path, header, columns, column)
        found = time_position is not None
        for position, row in misnamed:
            log.warning(
                "%s: column %r is named like a time column but line %d holds %r, not a date-time, so it is not "
                "the time axis; write ISO time stamps such as 2011-01-01 00:15:00 to use it",
                path,
                header[position],
                row + 2,
                columns[position].iloc[row],
            )
        value_position = choose_column(path, header, column, time_position)
    value_name = header[value_position]
    if comma_position is not None and (
        comma_position != value_position or len(header) - (time_position is not None) != 1
    ):
        raise too_many_fields(path, separator, len(header), first_split)
    cells = columns[value_position]
    # ``;`` files (the UCI layout) use decimal commas; a comma that split the values is one; else find out.
    decimal = True if separator == ";" or comma_position is not None else None
    values, decimal_comma = parse_numbers(path, cells, value_name, decimal)
    if decimal_comma and separator != ";":
        row = int(np.flatnonzero(cells.str.contains(",", regex=False).to_numpy())[0])
        log.info(
            "%s: column %r is written with decimal commas, so line %d's %r is read as %s",
            path,
            value_name,
            row + 2,
            cells.iloc[row].strip(),
            f"{values[row]:g}",
        )
    if time_position is None:
        step = pd.Timedelta(frequency)
        times = pd.date_range(pd.Timestamp(start), periods=len(values), freq=step)
        log.info(
            "%s: no time column, so the rows are dataset.frequency=%s apart, the first ending at dataset.start=%s",
            path,
            frequency,
            start,
        )
    else:
        time_name = header[time_position] or "(unnamed first column)"
        times, step = parse_times(path, columns[time_position], time_name, found)
        other_step = "" if is_frequency(frequency, step) else f", not dataset.frequency={frequency}"
        step_shown = step_text(step)
        if found:
            log.info(
                "%s: column %r holds date-times, so it is the time axis (stamps read as interval ends): %d rows "
                "%s apart from %s to %s; calendar features use that step%s, and dataset.start is not used",
                path,
                time_name,
                len(times),
                step_shown,
                times[0],
                times[-1],
                other_step,
            )
        elif other_step:
            log.info(
                "%s: column %r has stamps %s apart; calendar features use that step%s",
                path,
                time_name,
                step_shown,
                other_step,
            )
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
        series.files,
    )


def all_zero_day_rows(series: LoadSeries) -> np.ndarray:
    """Per row: whether the calendar day it lies in reads zero throughout (a meter outage)."""
    days = series.interval_starts.normalize()
    return pd.Series(series.values == 0).groupby(np.asarray(days)).transform("all").to_numpy(dtype=bool)
