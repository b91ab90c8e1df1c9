"""Reading load series: the UCI layout and plain CSVs, choosing the value column, resampling, and the file itself.

Decimal commas and bad cells are tested in ``test_electricity_csv_cells.py``, time columns in
``test_electricity_time_axis.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqkit.plugins.electricity.series import DataFormatError, all_zero_day_rows, read_series, resample_series


def write_uci(path: Path, times: pd.DatetimeIndex, columns: dict[str, list[str]]) -> Path:
    """A file laid out like LD2011_2014.txt: quoted header with an empty first cell, `;` and decimal commas."""
    lines = [";".join(['""', *(f'"{name}"' for name in columns)])]
    for row, stamp in enumerate(times):
        cells = [f'"{stamp:%Y-%m-%d %H:%M:%S}"', *(values[row] for values in columns.values())]
        lines.append(";".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dst_day_file(tmp_path: Path) -> Path:
    """The March 2011 daylight-saving day: regular stamps, and the 01:00-02:00 hour reading zero."""
    times = pd.date_range("2011-03-27 00:15", periods=96, freq="15min")
    load = [f"{10 + row % 7},{row:02d}" for row in range(96)]
    for row in range(4, 8):  # intervals ending 01:15 .. 02:00
        load[row] = "0"
    return write_uci(tmp_path / "LD2011_2014.txt", times, {"MT_001": ["0"] * 96, "MT_002": load})


def test_uci_layout_reads_decimal_commas_and_quoted_time_stamps(dst_day_file: Path) -> None:
    series = read_series(dst_day_file, "MT_002")
    assert series.column == "MT_002"
    assert series.values[0] == pytest.approx(10.0)
    assert series.values[1] == pytest.approx(11.01)
    assert series.times[0] == pd.Timestamp("2011-03-27 00:15")
    assert series.step == pd.Timedelta("15min")


def test_uci_daylight_saving_day_keeps_regular_stamps_and_its_zero_hour(dst_day_file: Path) -> None:
    series = read_series(dst_day_file, "MT_002")
    assert len(series) == 96
    assert (np.diff(series.times.asi8) == np.diff(series.times.asi8)[0]).all()
    assert series.values[4:8].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert (series.values[8:] > 0).all()


def test_uci_interval_starts_are_a_step_before_the_stamps(dst_day_file: Path) -> None:
    series = read_series(dst_day_file, "MT_002")
    assert series.interval_starts[0] == pd.Timestamp("2011-03-27 00:00")
    assert series.interval_starts[-1] == pd.Timestamp("2011-03-27 23:45")


def test_one_column_extract_gets_a_time_axis_from_start_and_frequency(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "elec_load.csv", ["Load", "74.56", "69.95", "71.49"])
    series = read_series(path)
    assert series.column == "Load"
    assert series.values.tolist() == [74.56, 69.95, 71.49]
    assert list(series.times) == [
        pd.Timestamp("2011-01-01 00:15"),
        pd.Timestamp("2011-01-01 00:30"),
        pd.Timestamp("2011-01-01 00:45"),
    ]


def test_generic_csv_reads_the_named_column_on_its_time_column(tmp_path: Path) -> None:
    lines = ["when,kw,other", "2020-05-01 01:00:00,1.5,9", "2020-05-01 02:00:00,2.5,9", "2020-05-01 03:00:00,3.5,9"]
    series = read_series(write_lines(tmp_path / "meter.csv", lines), "kw", time_column="when")
    assert series.values.tolist() == [1.5, 2.5, 3.5]
    assert series.step == pd.Timedelta("1h")
    assert series.times[0] == pd.Timestamp("2020-05-01 01:00")


def test_a_uci_layout_wider_than_the_narrow_reader_reads_its_column(tmp_path: Path) -> None:
    times = pd.date_range("2012-06-01 00:15", periods=8, freq="15min")
    columns = {f"MT_{client:03d}": [f"{client},{row}" for row in range(8)] for client in range(1, 81)}
    series = read_series(write_uci(tmp_path / "LD2011_2014.txt", times, columns), "MT_070")
    assert series.values.tolist() == [float(f"70.{row}") for row in range(8)]
    assert series.times[0] == pd.Timestamp("2012-06-01 00:15")


def test_trailing_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("Load\n1\n2\n\n\n", encoding="utf-8")
    assert read_series(path).values.tolist() == [1.0, 2.0]


def test_non_numeric_cell_in_uci_layout_names_its_line(dst_day_file: Path) -> None:
    text = dst_day_file.read_text(encoding="utf-8").splitlines()
    text[10] = text[10].rsplit(";", 1)[0] + ";12.5.1"
    dst_day_file.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"LD2011_2014\.txt, line 11, column 'MT_002': found '12\.5\.1'"):
        read_series(dst_day_file, "MT_002")


def test_missing_column_lists_the_available_ones(dst_day_file: Path) -> None:
    with pytest.raises(DataFormatError, match=r"no column 'MT_999'; available columns: 'MT_001', 'MT_002'"):
        read_series(dst_day_file, "MT_999")


def test_several_value_columns_need_a_column_name(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meter.csv", ["a,b", "1,2"])
    with pytest.raises(DataFormatError, match=r"2 value columns, so dataset.column must name one"):
        read_series(path)


# -- resampling and outages ----------------------------------------------------------------------------


def test_resampling_averages_onto_interval_ends_and_drops_partial_intervals(tmp_path: Path) -> None:
    # Ten quarter hours ending 00:15 .. 02:30: two whole hours, then two quarters of a third.
    path = write_lines(tmp_path / "load.csv", ["Load", *(str(float(v)) for v in range(10))])
    hourly = resample_series(read_series(path), "1h")
    assert hourly.values.tolist() == [1.5, 5.5]
    assert list(hourly.times) == [pd.Timestamp("2011-01-01 01:00"), pd.Timestamp("2011-01-01 02:00")]
    assert hourly.step == pd.Timedelta("1h")


def test_resampling_to_a_step_that_is_not_a_multiple_fails(tmp_path: Path) -> None:
    series = read_series(write_lines(tmp_path / "load.csv", ["Load", "1", "2"]))
    with pytest.raises(ValueError, match=r"dataset.resample='20min' must be a whole multiple"):
        resample_series(series, "20min")


def test_all_zero_days_are_marked_and_a_zero_hour_is_not(dst_day_file: Path) -> None:
    assert all_zero_day_rows(read_series(dst_day_file, "MT_001")).all()
    assert not all_zero_day_rows(read_series(dst_day_file, "MT_002")).any()


# -- the file itself -----------------------------------------------------------------------------------


def test_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty\.csv: the file is empty"):
        read_series(path)


def test_header_without_rows_is_named(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "load.csv", ["Load"])
    with pytest.raises(DataFormatError, match=r"load\.csv: the header is followed by no data rows"):
        read_series(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nowhere\.csv: no such file"):
        read_series(tmp_path / "nowhere.csv")


def test_a_directory_is_reported_as_a_directory_not_as_a_missing_file(tmp_path: Path) -> None:
    write_lines(tmp_path / "load.csv", ["Load", "1", "2"])
    with pytest.raises(DataFormatError) as error:
        read_series(tmp_path)
    message = str(error.value)
    assert message == (
        f"{tmp_path} is a directory (it holds load.csv), not a file; expected a CSV or LD2011_2014.txt file of "
        f"load readings: give the file itself, e.g. {tmp_path / 'load.csv'}"
    )
    assert "no such file" not in message


def test_the_series_knows_the_resolved_path_of_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lines(tmp_path / "load.csv", ["Load", *(str(v) for v in range(8))])
    monkeypatch.chdir(tmp_path)
    series = read_series("load.csv")
    assert series.path == Path("load.csv")
    assert series.files == ((tmp_path / "load.csv").resolve(),)
    assert series.files[0].is_absolute()
    assert resample_series(series, "1h").files == series.files
