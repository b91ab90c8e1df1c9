"""What a forecasting run leaves for people to look at: a table of test forecasts and a plot of a stretch.

Both are in the original unit (kW). The plot is drawn on a bare matplotlib ``Figure`` (Agg canvas), so
it needs no display and touches no global pyplot state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def forecast_table(
    times: pd.DatetimeIndex, rows: np.ndarray, truth_kw: np.ndarray, forecasts_kw: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per test window: the target's time (interval end) and row, the truth and each forecast in kW.

    ``forecasts_kw`` maps a name (``prediction``, ``persistence``, ...) to its forecasts; each becomes a
    column ``<name>_kw``.
    """
    columns: dict[str, object] = {"time": times, "row": rows, "truth_kw": truth_kw}
    for name, forecast in forecasts_kw.items():
        if len(forecast) != len(rows):
            raise ValueError(f"forecast {name!r} has {len(forecast)} values for {len(rows)} test windows")
        columns[f"{name}_kw"] = forecast
    return pd.DataFrame(columns)


def plot_forecast(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Truth, the model's prediction and persistence over the table's rows, saved as an image at ``path``."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(table["time"], table["truth_kw"], color="black", linewidth=1.4, label="truth")
    axes.plot(table["time"], table["prediction_kw"], color="tab:blue", linewidth=1.1, label="model")
    axes.plot(table["time"], table["persistence_kw"], color="tab:orange", linewidth=0.9, alpha=0.8, label="persistence")
    axes.set_title(title)
    axes.set_xlabel("time (interval end)")
    axes.set_ylabel("load (kW)")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    figure.autofmt_xdate()
    figure.savefig(path, dpi=110)
    return path
