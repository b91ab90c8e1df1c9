"""The time axis of a load file: a named time column, one found by its stamps, and a clear error for bad stamps."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.dataset import ElectricityDataset
from seqkit.plugins.electricity.series import DataFormatError, read_series
from seqkit.plugins.electricity.windows import WEEKDAYS

SERIES_LOG = "seqkit.plugins.electricity.series"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_unreadable_time_stamp_names_its_line(tmp_path: Path) -> None:
    lines = ["t,kw", "2020-05-01 01:00:00,1", "yesterday,2"]
    with pytest.raises(DataFormatError, match=r"line 3, column 't': found 'yesterday'; expected a time stamp"):
        read_series(write_lines(tmp_path / "meter.csv", lines), "kw", time_column="t")


def test_gap_in_time_stamps_names_its_line(tmp_path: Path) -> None:
    lines = ["t,kw", "2020-05-01 01:00:00,1", "2020-05-01 02:00:00,2", "2020-05-01 04:00:00,3"]
    with pytest.raises(DataFormatError, match=r"line 4, column 't'.*expected evenly spaced"):
        read_series(write_lines(tmp_path / "meter.csv", lines), "kw", time_column="t")


def test_unknown_time_column_lists_the_columns(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meter.csv", ["t,kw", "2020-05-01 01:00:00,1"])
    with pytest.raises(DataFormatError, match=r"no time column 'time'; available columns: 't', 'kw'"):
        read_series(path, "kw", time_column="time")


# -- time columns found by their stamps ----------------------------------------------------------------


def hourly_lines(name: str = "time", first: str = "2013-01-01 01:00", rows: int = 48) -> list[str]:
    times = pd.date_range(first, periods=rows, freq="1h")
    return [f"{name},Load", *(f"{stamp:%Y-%m-%d %H:%M:%S},{row + 0.5}" for row, stamp in enumerate(times))]


def test_a_column_named_time_is_the_time_axis_and_its_step_wins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_lines(tmp_path / "hourly.csv", hourly_lines())
    with caplog.at_level(logging.INFO, logger=SERIES_LOG):
        series = read_series(path, frequency="15min")
    assert series.column == "Load" and series.values[:2].tolist() == [0.5, 1.5]
    assert series.times[0] == pd.Timestamp("2013-01-01 01:00") and series.step == pd.Timedelta("1h")
    assert "column 'time' holds date-times, so it is the time axis" in caplog.text
    assert "48 rows 1h apart from 2013-01-01 01:00:00" in caplog.text
    assert "calendar features use that step, not dataset.frequency=15min" in caplog.text


def test_a_first_column_of_date_times_is_the_time_axis_whatever_its_name(tmp_path: Path) -> None:
    series = read_series(write_lines(tmp_path / "hourly.csv", hourly_lines(name="when")))
    assert series.times[0] == pd.Timestamp("2013-01-01 01:00") and series.step == pd.Timedelta("1h")


def test_calendar_features_of_an_hourly_file_come_from_its_own_stamps(tmp_path: Path) -> None:
    # 2013-01-07 13:00 ends the hour that starts at noon on a Monday: half a day, sin 0 and cos -1.
    path = write_lines(tmp_path / "hourly.csv", hourly_lines(first="2013-01-06 14:00"))
    config = ElectricityConfig(source="csv", path=str(path), window=2, horizon=1, batch_size=4)
    dataset = ElectricityDataset(config)
    row = dataset.series.times.get_loc(pd.Timestamp("2013-01-07 13:00"))
    features = dict(zip(dataset.feature_names, dataset.features[row].tolist()))
    assert features["time_of_day_sin"] == pytest.approx(0.0, abs=1e-6)
    assert features["time_of_day_cos"] == pytest.approx(-1.0)
    assert [day for day in WEEKDAYS if features[day] == 1.0] == ["monday"]
    assert dataset.series.step == pd.Timedelta("1h") and dataset.season == 24
    assert dataset.series.files == (path.resolve(),)


def test_two_columns_of_date_times_need_dataset_time_column(tmp_path: Path) -> None:
    lines = ["date,time,Load", "2013-01-01,01:00,1", "2013-01-01,02:00,2"]
    with pytest.raises(
        DataFormatError, match=r"columns 'date', 'time' all hold date-times; set dataset.time_column to the one"
    ):
        read_series(write_lines(tmp_path / "meter.csv", lines))


def test_a_found_time_column_with_other_stamps_fails_naming_the_line(tmp_path: Path) -> None:
    lines = ["time,Load", "2013-01-01 01:00,1", "01/02/2013 02:00,2"]
    with pytest.raises(
        DataFormatError,
        match=r"line 3, column 'time': found '01/02/2013 02:00'; expected a time stamp such as 2011-01-01 00:15:00 "
        r"\(column 'time' is the time axis: its first cell is a date-time\)",
    ):
        read_series(write_lines(tmp_path / "meter.csv", lines))


def test_a_time_named_column_without_date_times_warns_before_an_axis_is_invented(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = ["timestamp,Load", "1356998400,1", "1357002000,2"]
    with caplog.at_level(logging.INFO, logger=SERIES_LOG):
        series = read_series(write_lines(tmp_path / "meter.csv", lines), "Load")
    assert series.times[0] == pd.Timestamp("2011-01-01 00:15")
    warned = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "column 'timestamp' is named like a time column but line 2 holds '1356998400'" in warned[0].getMessage()
    assert "no time column, so the rows are dataset.frequency=15min apart" in caplog.text
