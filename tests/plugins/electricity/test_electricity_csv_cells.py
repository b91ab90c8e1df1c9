"""Reading the cells of a load file: numbers, empty cells, decimal commas and rows with extra fields."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from seqkit.plugins.electricity import csv_cells, time_axis
from seqkit.plugins.electricity.series import DataFormatError, read_series

SERIES_LOG = "seqkit.plugins.electricity.series"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_reading_module_raises_the_one_data_format_error() -> None:
    assert csv_cells.DataFormatError is DataFormatError and time_axis.DataFormatError is DataFormatError


def test_non_numeric_cell_names_file_line_and_column(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", "1.0", "2.0", "n/a", "4.0"])
    with pytest.raises(
        DataFormatError, match=r"load\.csv, line 4, column 'Load': found 'n/a'; expected a finite number"
    ):
        read_series(path)


def test_empty_cell_is_reported_as_empty(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meter.csv", ["a,b", "1,2", "3,", "5,6"])
    with pytest.raises(DataFormatError, match=r"line 3, column 'b': found an empty cell"):
        read_series(path, "b")


def test_blank_line_inside_the_data_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("Load\n1\n\n3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 3, column 'Load': found an empty cell"):
        read_series(path)


# -- decimal commas in a plain CSV ---------------------------------------------------------------------


def test_decimal_commas_in_a_one_column_csv_are_read_exactly_with_a_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", "74,56", "75,10", "76", "-0,5"])
    with caplog.at_level(logging.INFO, logger=SERIES_LOG):
        series = read_series(path)
    assert series.values.tolist() == [74.56, 75.10, 76.0, -0.5]
    assert "column 'Load' is written with decimal commas, so line 2's '74,56' is read as 74.56" in caplog.text


def test_quoted_decimal_commas_are_read_exactly(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", '"74,56"', '"75,10"'])
    assert read_series(path).values.tolist() == [74.56, 75.10]


def test_decimal_commas_beside_a_time_column_are_read_exactly(tmp_path: Path) -> None:
    lines = ["time,Load", "2013-01-01 01:00:00,74,56", "2013-01-01 02:00:00,75,10"]
    series = read_series(write_lines(tmp_path / "load.csv", lines))
    assert series.values.tolist() == [74.56, 75.10]
    assert series.times[1] == pd.Timestamp("2013-01-01 02:00")


def test_decimal_commas_mixed_with_decimal_points_fail_naming_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", "74,56", "75.10"])
    with pytest.raises(
        DataFormatError,
        match=r"load\.csv, line 3, column 'Load': found '75\.10' with a decimal point, but line 2 has a decimal "
        r"comma \('74,56'\); write every value with the same decimal mark",
    ):
        read_series(path)


def test_a_comma_before_three_digits_is_ambiguous_and_fails(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", "1,234", "2,500"])
    with pytest.raises(
        DataFormatError, match=r"line 2, column 'Load': '1,234' may be a decimal comma or a thousands separator"
    ):
        read_series(path)


def test_an_extra_field_under_several_value_columns_fails_naming_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meter.csv", ["a,b", "1,2", "1,5,2"])
    with pytest.raises(
        DataFormatError,
        match=r"meter\.csv, line 3: 3 fields but the header \(line 1\) has 2; if the values are written with "
        r"decimal commas \(74,56\), quote them",
    ):
        read_series(path, "a")


def test_many_extra_fields_fail_naming_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load", "1", "2", "3,4,5,6"])
    with pytest.raises(DataFormatError, match=r"load\.csv, line 4: 4 fields but the header \(line 1\) has 1"):
        read_series(path)
