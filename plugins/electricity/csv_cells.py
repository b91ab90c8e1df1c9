"""Reading the cells of a load file as text and its value column as numbers, with a clear error for each bad cell.

The header line is read first: its separator (``;`` for the UCI layout, else ``,``) and its names. The
rows are then read as text, one column per header position, so that every problem can name its line
(1-based, as an editor shows it): rows with more fields than the header, blank lines inside the data,
cells that are no number.

A plain CSV whose value column is written with decimal commas (``Load`` then ``74,56``: two fields
per row under a one-field header, or quoted ``"74,56"``) is read as ``74.56`` when that is the only
reading: one value column, every split value ``digits,digits``, no decimal points, and not every comma
followed by three digits (``1,234`` may be a thousands separator). Anything else with extra fields
fails naming the line.

:class:`DataFormatError`, the one error every reading problem is reported as, is defined here.
"""

from __future__ import annotations

import csv
import re
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

#: Files with more columns than this are read column by column (``usecols``), without the extra-field check.
WIDE = 64
#: A number written with a decimal comma and no other mark: ``74,56``, ``-0,5``.
DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


class DataFormatError(ValueError):
    """A data file that cannot be read as a load series: the message names the file, the place and the fix."""


def list_columns(names: list[str], limit: int = 12) -> str:
    """Column names for a message: quoted, the first ``limit`` of them and how many in all."""
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def read_header(path: Path) -> tuple[list[str], str]:
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


def choose_column(path: Path, header: list[str], column: str | None, time_position: int | None) -> int:
    """The position of the value column."""
    candidates = [name for position, name in enumerate(header) if position != time_position]
    if column is None:
        if len(candidates) != 1:
            raise DataFormatError(
                f"{path}: {len(candidates)} value columns, so dataset.column must name one; "
                f"available columns: {list_columns(candidates)}"
            )
        column = candidates[0]
    if column not in candidates:
        raise DataFormatError(
            f"{path}: no column {column!r}; available columns: {list_columns(candidates)}. "
            "Set dataset.column (or dataset.client for the UCI file) to one of them"
        )
    return header.index(column)


def read_cells(path: Path, separator: str, width: int, positions: list[int]) -> pd.DataFrame:
    """Cells as text, columns named by position; row ``k`` is line ``k + 2`` of the file (blank lines are
    kept as rows). A file of up to ``WIDE`` columns is read whole with two columns past the header, which
    catch rows with extra fields; a wider one (the UCI file) only at ``positions``, with those two empty."""
    narrow = width <= WIDE
    if narrow:
        layout: dict = {"header": None, "skiprows": 1, "names": list(range(width + 2))}
    else:
        layout = {"usecols": [position for position in positions if position < width]}
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            **layout,
        )
    except pd.errors.ParserError as error:
        extra = re.search(r"Expected \d+ fields in line (\d+), saw \d+", str(error))
        if narrow and extra:
            raise too_many_fields(path, separator, width, int(extra.group(1)) - 2) from error
        raise DataFormatError(f"{path}: {error} (line numbers count the header as line 1)") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{path}: not UTF-8 text ({error}); expected a CSV file of load readings") from error
    frame = frame.fillna("")
    if not narrow:
        frame.columns = layout["usecols"]
        frame[width] = frame[width + 1] = ""
    # A file that ends in blank lines has nothing after them; only blank lines inside the data are errors.
    filled = (frame != "").any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    return frame.iloc[:last]


def _count_fields(path: Path, separator: str, line: int) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        text = next(islice(handle, line - 1, None), "")
    return len(next(csv.reader([text.rstrip("\r\n")], delimiter=separator), []))


def too_many_fields(path: Path, separator: str, width: int, row: int) -> DataFormatError:
    """The error for data row ``row`` having more fields than the header's ``width``, with the fix."""
    line = row + 2
    fields = _count_fields(path, separator, line)
    if separator == ",":
        fix = (
            'if the values are written with decimal commas (74,56), quote them ("74,56") or separate the '
            "columns with ';'; else remove the extra commas"
        )
    else:
        fix = f"remove the extra {separator!r}"
    return DataFormatError(f"{path}, line {line}: {fields} fields but the header (line 1) has {width}; {fix}")


def _check_not_thousands(path: Path, cells: pd.Series, column: str) -> None:
    """Fail when every comma has three digits after it: ``1,234`` may be 1.234 or 1234."""
    with_comma = cells[cells.str.contains(",", regex=False)]
    if len(with_comma) and (with_comma.str.split(",").str[-1].str.len() == 3).all():
        row, cell = int(with_comma.index[0]), with_comma.iloc[0]
        raise DataFormatError(
            f"{path}, line {row + 2}, column {column!r}: {cell!r} may be a decimal comma or a thousands "
            f"separator (every value in the column has three digits after its comma); write the values "
            "with '.' decimals and no thousands separators, e.g. 1.234 or 1234"
        )


def join_decimal_commas(
    path: Path, frame: pd.DataFrame, header: list[str], separator: str
) -> tuple[dict[int, pd.Series], int | None, int]:
    """The cells per header position, with decimal commas that split a value into two fields joined again.

    Returns the cells, the position whose values were joined (``None``: no row had an extra field) and the
    first row that had one. Rows with an extra field are joined only when exactly one position reads
    ``digits,digits`` on every such row and no other row of that column holds a decimal point.
    """
    width = len(header)
    frame = frame.reset_index(drop=True)
    columns = {position: frame[position] for position in frame.columns if position < width}
    over = np.flatnonzero((frame[width + 1] != "").to_numpy())
    split = frame[width] != ""
    if not over.size and not split.any():
        return columns, None, -1
    first = int(over[0]) if over.size else int(np.flatnonzero(split.to_numpy())[0])
    if over.size or separator != ",":
        raise too_many_fields(path, separator, width, first)
    joined = {
        position: frame[position][split] + "," + frame[position + 1][split]
        for position in range(width)
        if position in frame.columns and position + 1 in frame.columns
    }
    fitting = [position for position, cells in joined.items() if cells.str.fullmatch(DECIMAL_COMMA.pattern).all()]
    if len(fitting) != 1:
        raise too_many_fields(path, separator, width, first)
    position = fitting[0]
    whole = frame[position][~split]
    dotted = whole[whole.str.contains(".", regex=False)]
    if len(dotted):
        row = int(dotted.index[0])
        raise DataFormatError(
            f"{path}, line {row + 2}, column {header[position]!r}: found {dotted.iloc[0]!r} with a decimal point, "
            f"but line {first + 2} has a decimal comma ({joined[position].iloc[0]!r}); write every value with "
            "the same decimal mark"
        )
    columns[position] = frame[position].where(~split, joined[position].reindex(frame.index))
    _check_not_thousands(path, columns[position][split], header[position])
    for later in range(position + 1, width):
        if later in frame.columns and later + 1 in frame.columns:
            columns[later] = frame[later].where(~split, frame[later + 1])
        else:
            columns.pop(later, None)
    return columns, position, first


def parse_numbers(path: Path, cells: pd.Series, column: str, decimal_comma: bool | None) -> tuple[np.ndarray, bool]:
    """The values, and whether they were read with decimal commas; ``decimal_comma=None``: find out (a
    column of quoted ``"74,56"`` cells, with no decimal points, is read with decimal commas)."""
    text = cells.str.strip()
    if decimal_comma is None:
        filled = text[text != ""]
        decimal_comma = bool(
            filled.str.contains(",", regex=False).any() and filled.str.fullmatch(r"-?\d+(?:,\d+)?").all()
        )
        if decimal_comma:
            _check_not_thousands(path, filled, column)
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
    return values, decimal_comma
