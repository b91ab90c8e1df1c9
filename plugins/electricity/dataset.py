"""The ``electricity`` dataset: windows of a household's load, chronologically split, train-only scaled.

A window of ``window`` past readings (plus calendar features per step when ``calendar`` is on) forecasts
the reading ``horizon`` steps after the window: window start ``i`` has inputs ``a[i : i + window]`` and
target ``a[i + window - 1 + horizon]``, so the book chapter's ``X = a[i:i+5], y = a[i+6]`` is window 5,
horizon 2. Targets are always the values themselves (no residual/delta targets), so the head's MSE and
every reported figure are on the scaled value scale, and ``* target_unit_scale`` gives kW.

Splits are chronological. With ``split`` fractions (default 0.7/0.1/0.2) the ROWS are cut in order and a
window belongs to the part holding its target row (its history may reach back into the previous part).
With ``train_range``/``val_range``/``test_range`` (all three, ``[start, stop)``) the units are WINDOW
INDICES, as in the chapter: train windows 0-12000, test 12000-13000, validation 13000-14000. The
scaler (``standard``, ``minmax`` or ``fixed`` ``(x - offset) / scale``) is fitted on the training rows
only. ``report`` scores persistence, seasonal-naive and linear-AR baselines on the same test windows as
the model and writes ``forecast.csv`` and ``forecast.png``. A finished run forecasts new data through
``use_artifacts`` (its scaler, never refitted) and ``forecast`` (the same table, for any windows).

The window arithmetic and scalers are in :mod:`seqkit.plugins.electricity.windows`, reading the file in
:mod:`seqkit.plugins.electricity.series`, the baselines in :mod:`seqkit.plugins.electricity.baselines`
and the table and plot in :mod:`seqkit.plugins.electricity.report`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqkit import datafiles
from seqkit.components import SPLITS, Batch, Dataset, DataSpec, Split
from seqkit.plugins.electricity import report as forecast_report
from seqkit.plugins.electricity.baselines import (
    LinearAutoregression,
    error_metrics,
    persistence,
    seasonal_naive,
    target_rows,
)
from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.series import (
    EXPECTED_FILE,
    DataFormatError,
    all_zero_day_rows,
    read_series,
    resample_series,
)
from seqkit.plugins.electricity.windows import (
    ONE_DAY,
    AffineScaler,
    calendar_categories,
    calendar_features,
    fit_scaler,
    split_by_fractions,
    split_by_ranges,
)

EXTRACT_FILE = "electricity/elec_load.csv"
EXTRACT_URL = (
    "https://raw.githubusercontent.com/PacktPublishing/Building-Machine-Learning-Projects-with-TensorFlow/"
    "6f0c5792b89936b66d9fa933404bf4d93d5235bd/7/Code/data/elec_load.csv"
)
EXTRACT_SHA256 = "61bec0ef983046e0bb44babee1ddb97f843975ba06dd3cf8c38014b9ab10ba45"
UCI_FILE = "electricity/LD2011_2014.txt"
UCI_MEMBER = "LD2011_2014.txt"
UCI_URL = "https://archive.ics.uci.edu/static/public/321/electricityloaddiagrams20112014.zip"
UCI_ZIP_SHA256 = "f6c4d0e0df12ecdb9ea008dd6eef3518adb52c559d04a9bac2e1b81dcfc8d4e1"

SOURCES = ("extract", "uci", "csv")
#: The artifacts that fix what the model reads: a run whose value differs cannot read this dataset's windows.
MODEL_SETTINGS = ("window", "horizon", "features", "day_of_week", "time_of_day", "step")


def locate_file(config: ElectricityConfig) -> Path:
    """The file to read: ``path`` as given (never downloaded), else the source's file, fetched on first use."""
    if config.source not in SOURCES:
        raise ValueError(f"dataset.source={config.source!r} is unknown; choose one of {', '.join(SOURCES)}")
    if config.path is not None:
        return datafiles.require_file(Path(config.path).expanduser(), EXPECTED_FILE, option="dataset.path")
    if config.source == "extract":
        return datafiles.fetch(EXTRACT_FILE, EXTRACT_URL, EXTRACT_SHA256)
    if config.source == "uci":
        return datafiles.fetch(UCI_FILE, UCI_URL, UCI_ZIP_SHA256, archive_member=UCI_MEMBER)
    raise ValueError("dataset.source=csv reads a local file: set dataset.path=... (and dataset.column=...)")


class ElectricityDataset(Dataset):
    """Sliding windows over one load series, as batches of ``(batch, window, features)`` -> ``(batch, 1)``."""

    vocabulary = None

    def __init__(self, config: ElectricityConfig):
        if config.window < 1 or config.horizon < 1 or config.batch_size < 1:
            raise ValueError(
                f"dataset.window={config.window}, dataset.horizon={config.horizon} and "
                f"dataset.batch_size={config.batch_size} must all be at least 1"
            )
        self.config = config
        column = config.column if config.column is not None or config.source != "uci" else config.client
        series = read_series(
            locate_file(config), column, time_column=config.time_column, start=config.start, frequency=config.frequency
        )
        if config.resample:
            series = resample_series(series, config.resample)
        self.series = series
        self.reach = config.window - 1 + config.horizon
        if len(series) < config.window + config.horizon:
            raise DataFormatError(
                f"{series.path}: {len(series)} rows in column {series.column!r}; one window of {config.window} "
                f"plus horizon {config.horizon} needs at least {config.window + config.horizon} rows"
            )
        ranges = {"train": config.train_range, "val": config.val_range, "test": config.test_range}
        if any(bounds is not None for bounds in ranges.values()):
            split = split_by_ranges(len(series), config.window, config.horizon, ranges)
        else:
            split = split_by_fractions(len(series), config.window, config.horizon, config.split)
        self.starts, self.fit_rows = split.starts, split.fit_rows
        self.scaler = fit_scaler(
            config.scaler, series.values[slice(*self.fit_rows)], offset=config.offset, scale=config.scale
        )
        self.scaled = self.scaler.transform(series.values)
        self.feature_names = ["load"]
        columns = [self.scaled[:, None]]
        if config.calendar:
            calendar, names = calendar_features(
                series.interval_starts, config.day_of_week, config.time_of_day, series.step
            )
            columns.append(calendar)
            self.feature_names += names
        self.features = np.concatenate(columns, axis=1).astype(np.float32)
        self.season = self._season()
        self.spec = DataSpec(
            input_kind="real",
            input_size=len(self.feature_names),
            target_kind="real",
            target_size=1,
            stateful=False,
            sequence_targets=False,
            target_unit="kw",
            target_unit_scale=self.scaler.scale,
        )

    @property
    def step_name(self) -> str:
        """The series' step as a short string, e.g. ``15min`` or ``1h``."""
        minutes = self.series.step / pd.Timedelta("1min")
        return f"{minutes / 60:g}h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes:g}min"

    def _season(self) -> int:
        if self.config.season is not None:
            return self.config.season
        if ONE_DAY % self.series.step != pd.Timedelta(0):
            raise ValueError(
                f"a day is not a whole number of {self.series.step} steps; set dataset.season (rows per season)"
            )
        return ONE_DAY // self.series.step

    # ------------------------------------------------------------------------------------------- batches

    def window_starts(self, split: Split, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> np.ndarray:
        """The starts of the windows one process gets, in batch order.

        Training windows are drawn (``max_windows_per_epoch``) and shuffled from ``seed + epoch``, and cut
        to a multiple of the world size so every process takes the same number of steps; validation and
        test windows stay in time order and are all dealt out.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        rank, world = shard
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"shard={shard} must be (rank, world_size) with 0 <= rank < world_size")
        starts = self.starts[split]
        if split == "train":
            generator = np.random.default_rng(self.config.seed + epoch)
            limit = self.config.max_windows_per_epoch
            if limit is not None and limit < len(starts):
                chosen = generator.choice(len(starts), size=limit, replace=False)
                starts = starts[chosen if self.config.shuffle else np.sort(chosen)]
            elif self.config.shuffle:
                starts = starts[generator.permutation(len(starts))]
            starts = starts[: len(starts) - len(starts) % world]
        return starts[rank::world]

    def make_batch(self, starts: np.ndarray) -> Batch:
        inputs = self.features[starts[:, None] + np.arange(self.config.window)]
        targets = self.scaled[starts + self.reach].astype(np.float32)[:, None]
        return Batch(torch.from_numpy(inputs), torch.from_numpy(targets))

    def batches(self, split: Split, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        starts = self.window_starts(split, epoch, shard)
        for first in range(0, len(starts), self.config.batch_size):
            yield self.make_batch(starts[first : first + self.config.batch_size])

    def num_batches(self, split: Split, shard: tuple[int, int] = (0, 1)) -> int:
        return math.ceil(len(self.window_starts(split, 0, shard)) / self.config.batch_size)

    def data_files(self) -> list[Path]:
        """The load file read (its path as resolved when read)."""
        return list(self.series.files)

    def artifacts(self) -> dict[str, Any]:
        return {
            "scaler": self.scaler.to_dict(),
            "column": self.series.column,
            "window": self.config.window,
            "horizon": self.config.horizon,
            "features": list(self.feature_names),
            "day_of_week": self.config.day_of_week if self.config.calendar else None,
            "time_of_day": self.config.time_of_day if self.config.calendar else None,
            "step": self.step_name,
            "resample": self.config.resample,
            "unit": "kw",
        }

    # ------------------------------------------------------------------------------------------- report

    def baseline_forecasts(self, split: Split = "test") -> dict[str, np.ndarray]:
        """Scaled baseline forecasts for every window of ``split``, in time order."""
        starts = self.starts[split]
        window, horizon = self.config.window, self.config.horizon
        forecasts = {"persistence": persistence(self.scaled, starts, window)}
        if target_rows(starts, window, horizon).min() >= self.season:
            forecasts["seasonal_naive"] = seasonal_naive(self.scaled, starts, window, horizon, self.season)
        categories = calendar_categories(self.series.interval_starts, self.series.step) if self.config.calendar else []
        linear = LinearAutoregression(self.scaled, window, horizon, categories).fit(self.starts["train"])
        forecasts["linear_ar"] = linear.predict(starts)
        return forecasts

    def baselines(self, split: Split = "test") -> dict[str, dict[str, float]]:
        """Each baseline's error figures on ``split``'s windows, in scaled units and kW."""
        return self._errors(self.baseline_forecasts(split), split)

    def _errors(self, forecasts: dict[str, np.ndarray], split: Split) -> dict[str, dict[str, float]]:
        truth = self.scaled[self.starts[split] + self.reach]
        return {name: error_metrics(forecast, truth, self.scaler.scale) for name, forecast in forecasts.items()}

    def data_summary(self) -> dict[str, Any]:
        """What the run was tested on: the file, the rows, the splits and the all-zero (outage) days."""
        times, zero_rows = self.series.times, all_zero_day_rows(self.series)
        days = self.series.interval_starts.normalize()
        zeros_before = np.concatenate([[0], np.cumsum(zero_rows)])
        test_starts = self.starts["test"]
        touching = zeros_before[test_starts + self.reach + 1] - zeros_before[test_starts] > 0
        # Rows any test window reads or forecasts: +1 where a window begins, -1 after its target.
        opened = np.zeros(len(self.series) + 1, dtype=np.int64)
        np.add.at(opened, test_starts, 1)
        np.add.at(opened, test_starts + self.reach + 1, -1)
        covered = np.cumsum(opened[:-1]) > 0
        touched_days = sorted({str(day.date()) for day in days[covered & zero_rows].unique()})
        splits = {}
        for split, starts in self.starts.items():
            targets = starts + self.reach
            splits[split] = {
                "windows": len(starts),
                "target_rows": [int(targets[0]), int(targets[-1])],
                "target_times": [str(times[targets[0]]), str(times[targets[-1]])],
            }
        return {
            "source": str(self.series.path),
            "column": self.series.column,
            "rows": len(self.series),
            "step": self.step_name,
            "first_time": str(times[0]),
            "last_time": str(times[-1]),
            "scaler": self.scaler.to_dict(),
            "scaler_fit_rows": [self.fit_rows[0], self.fit_rows[1] - 1],
            "splits": splits,
            "all_zero_days": len(days[zero_rows].unique()),
            "test_windows": len(test_starts),
            "test_windows_touching_zero_days": int(touching.sum()),
            "test_zero_days": touched_days,
        }

    def predict(self, model: nn.Module, device: torch.device | str, split: Split = "test") -> np.ndarray:
        """The model's scaled forecasts for every window of ``split``, in time order."""
        predictions = []
        with torch.no_grad():
            for batch in self.batches(split):
                output, _state = model(batch.inputs.to(device))
                predictions.append(output.reshape(len(batch), -1)[:, 0].float().cpu().numpy())
        return np.concatenate(predictions).astype(np.float64)

    def report(self, model: nn.Module, run_dir: Path, device: torch.device | str) -> dict[str, Any]:
        """Baselines on the test windows, forecast.csv and forecast.png in ``run_dir``, and the data summary."""
        test_targets = self.starts["test"] + self.reach
        baseline_forecasts = self.baseline_forecasts("test")
        baselines = self._errors(baseline_forecasts, "test")
        forecasts = {"prediction": self.predict(model, device), **baseline_forecasts}
        in_kw = {name: self.scaler.inverse(forecast) for name, forecast in forecasts.items()}
        frame = forecast_report.forecast_table(
            self.series.times[test_targets], test_targets, self.series.values[test_targets], in_kw
        )
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(run_dir / "forecast.csv", index=False, float_format="%.4f")
        steps = max(1, round(self.config.plot_days * (ONE_DAY / self.series.step)))
        forecast_report.plot_forecast(
            frame.iloc[:steps],
            run_dir / "forecast.png",
            title=f"{self.series.column}: test forecasts {self.config.horizon} step(s) of {self.step_name} ahead",
        )
        summary = self.data_summary()
        if "seasonal_naive" not in baselines:
            summary["seasonal_naive_skipped"] = f"the first test target has fewer than {self.season} rows before it"
        return {
            "baselines": baselines,
            "data": summary,
            "forecast": {"csv": "forecast.csv", "plot": "forecast.png", "plotted_windows": min(steps, len(frame))},
        }

    # ---------------------------------------------------------------------------- a finished run's model

    def use_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Scale with the run's scaler (``artifacts["scaler"]``) in place of the one fitted on this data: the
        scaled series, the inputs, the targets and the baselines follow it. Refuses a run whose window,
        horizon, features, calendar encoding or step differ from this dataset's, naming them."""
        own = self.artifacts()
        differ = [key for key in MODEL_SETTINGS if key in artifacts and artifacts[key] != own[key]]
        if differ:
            details = "; ".join(f"{key}: the run's {shown(artifacts[key])}, here {shown(own[key])}" for key in differ)
            raise ValueError(
                f"dataset electricity cannot take this run's transforms: the run's model reads other windows "
                f"({details}); set the dataset's options to the run's"
            )
        scaler = artifacts.get("scaler")
        if not isinstance(scaler, dict):
            raise ValueError("the run's artifacts hold no scaler: dataset electricity cannot read new data as it did")
        self.scaler = AffineScaler(str(scaler["kind"]), float(scaler["offset"]), float(scaler["scale"]))
        self.scaled = self.scaler.transform(self.series.values)
        self.features = self.features.copy()
        self.features[:, 0] = self.scaled
        self.spec = dataclasses.replace(self.spec, target_unit_scale=self.scaler.scale)

    def forecast(
        self, model: nn.Module, device: torch.device | str, split: Split | None = "test", last: bool = False
    ) -> pd.DataFrame:
        """The forecast table in kW: target time and row, truth, the model's ``prediction`` and the baselines.

        ``split`` names the windows (a split's: baselines as in ``report``, the linear AR fitted on the train
        windows; ``None``: every window of the series, with persistence and seasonal naive only, since the
        linear AR would be fitted on the very values it forecasts). ``last``: the one forecast from the
        series' last ``window`` rows, ``horizon`` steps past its last time stamp (no truth).
        """
        if last:
            starts = np.array([len(self.series) - self.config.window])
        elif split is None:
            starts = np.arange(len(self.series) - self.reach)
        elif split in SPLITS:
            starts = self.starts[split]
        else:
            raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)} (or None: every window)")
        forecasts = {"prediction": self.model_forecasts(model, device, starts)}
        if last or split is None:
            forecasts |= self.unfitted_baselines(starts)
        else:
            forecasts |= self.baseline_forecasts(split)
        return self.forecast_frame(starts, forecasts)

    def model_forecasts(self, model: nn.Module, device: torch.device | str, starts: np.ndarray) -> np.ndarray:
        """The model's scaled forecasts for the windows beginning at ``starts``, ``batch_size`` at a time."""
        predictions = []
        with torch.no_grad():
            for first in range(0, len(starts), self.config.batch_size):
                chunk = starts[first : first + self.config.batch_size]
                inputs = torch.from_numpy(self.features[chunk[:, None] + np.arange(self.config.window)])
                output, _state = model(inputs.to(device))
                predictions.append(output.reshape(len(chunk), -1)[:, 0].float().cpu().numpy())
        return np.concatenate(predictions).astype(np.float64)

    def unfitted_baselines(self, starts: np.ndarray) -> dict[str, np.ndarray]:
        """Persistence and seasonal naive (NaN where a target has less than a season before it) for ``starts``."""
        earlier = target_rows(starts, self.config.window, self.config.horizon) - self.season
        known = (earlier >= 0) & (earlier < len(self.scaled))
        seasonal = np.where(known, self.scaled[np.clip(earlier, 0, len(self.scaled) - 1)], np.nan)
        return {"persistence": persistence(self.scaled, starts, self.config.window), "seasonal_naive": seasonal}

    def forecast_frame(self, starts: np.ndarray, forecasts: dict[str, np.ndarray]) -> pd.DataFrame:
        """``forecast_table`` of scaled ``forecasts`` for the windows at ``starts``; targets past the series'
        end get their time ``horizon`` steps on and no truth."""
        targets = starts + self.reach
        inside = np.minimum(targets, len(self.series) - 1)
        times = pd.DatetimeIndex(self.series.times[inside] + (targets - inside) * self.series.step)
        truth = np.where(targets == inside, self.series.values[inside], np.nan)
        in_kw = {name: self.scaler.inverse(forecast) for name, forecast in forecasts.items()}
        return forecast_report.forecast_table(times, targets, truth, in_kw)


def shown(value: Any) -> str:
    """A setting for an error message; a long list by its length and ends."""
    if isinstance(value, list) and len(value) > 6:
        return f"{len(value)} [{', '.join(map(str, value[:2]))}, ..., {value[-1]}]"
    return repr(value)
