"""The forecast table and plot a forecasting run leaves behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqkit.plugins.electricity.report import forecast_table, plot_forecast


def small_table() -> pd.DataFrame:
    times = pd.date_range("2014-03-14 19:15", periods=4, freq="15min")
    forecasts = {"prediction": np.array([1.0, 2.0, 3.0, 4.0]), "persistence": np.array([0.5, 1.0, 2.0, 3.0])}
    return forecast_table(times, np.arange(10, 14), np.array([1.5, 2.5, 3.5, 4.5]), forecasts)


def test_table_has_time_row_truth_and_one_column_per_forecast() -> None:
    table = small_table()
    assert list(table.columns) == ["time", "row", "truth_kw", "prediction_kw", "persistence_kw"]
    assert table["row"].tolist() == [10, 11, 12, 13]
    assert table["persistence_kw"].tolist() == [0.5, 1.0, 2.0, 3.0]


def test_table_refuses_a_forecast_of_the_wrong_length() -> None:
    times = pd.date_range("2014-01-01", periods=2, freq="15min")
    with pytest.raises(ValueError, match="forecast 'prediction' has 3 values for 2 test windows"):
        forecast_table(times, np.arange(2), np.zeros(2), {"prediction": np.zeros(3)})


def test_plot_is_written_as_png(tmp_path: Path) -> None:
    path = plot_forecast(small_table(), tmp_path / "forecast.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
