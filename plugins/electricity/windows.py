"""From a series to forecasting windows: chronological splits, train-only affine scaling, calendar features.

A window is named by its first row ``start``: inputs are rows ``start .. start + window - 1`` and the
target is row ``start + window - 1 + horizon`` (its ``reach`` past the start). Splits come either from
fractions of the ROWS (a window goes to the part holding its target row; its history may reach back
into the part before) or from explicit ``[start, stop)`` ranges of WINDOW INDICES.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SCALERS = ("standard", "minmax", "fixed")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ONE_DAY = pd.Timedelta("1D")


@dataclass(frozen=True)
class AffineScaler:
    """``scaled = (value - offset) / scale``; an error of ``e`` scaled is ``e * scale`` in the original unit."""

    kind: str
    offset: float
    scale: float

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.offset) / self.scale

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.scale + self.offset

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset, "scale": self.scale}


def fit_scaler(kind: str, train_values: np.ndarray, offset: float = 0.0, scale: float = 1.0) -> AffineScaler:
    """A scaler fitted on the training values only (``fixed`` takes ``offset``/``scale`` as given)."""
    if kind == "standard":
        offset, scale = float(np.mean(train_values)), float(np.std(train_values))
    elif kind == "minmax":
        offset, scale = float(np.min(train_values)), float(np.max(train_values) - np.min(train_values))
    elif kind != "fixed":
        raise ValueError(f"dataset.scaler={kind!r} is unknown; choose one of {', '.join(SCALERS)}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"dataset.scaler={kind!r} gives scale {scale}; the training values must vary "
            "(for 'fixed', set dataset.scale to a positive number)"
        )
    return AffineScaler(kind, float(offset), float(scale))


def calendar_features(
    interval_starts: pd.DatetimeIndex, day_of_week: str, time_of_day: str = "sincos", step: pd.Timedelta | None = None
) -> tuple[np.ndarray, list[str]]:
    """Time of day as sin/cos or one-hot slots of ``step``; day of week as seven one-hots or sin/cos."""
    day_fraction = np.asarray((interval_starts - interval_starts.normalize()) / ONE_DAY, dtype=np.float64)
    weekday = np.asarray(interval_starts.day_of_week)
    if time_of_day == "sincos":
        columns = [np.sin(2 * np.pi * day_fraction), np.cos(2 * np.pi * day_fraction)]
        names = ["time_of_day_sin", "time_of_day_cos"]
    elif time_of_day == "onehot":
        if step is None:
            raise ValueError("one-hot time of day needs the series' step")
        slots = math.ceil(ONE_DAY / step)
        slot = np.asarray((interval_starts - interval_starts.normalize()) // step, dtype=np.int64)
        columns = [(slot == index).astype(np.float64) for index in range(slots)]
        names = [f"slot_{index}" for index in range(slots)]
    else:
        raise ValueError(f"dataset.time_of_day={time_of_day!r} is unknown; choose sincos or onehot")
    if day_of_week == "onehot":
        columns += [(weekday == day).astype(np.float64) for day in range(7)]
        names += list(WEEKDAYS)
    elif day_of_week == "sincos":
        week_phase = 2 * np.pi * (weekday + day_fraction) / 7
        columns += [np.sin(week_phase), np.cos(week_phase)]
        names += ["day_of_week_sin", "day_of_week_cos"]
    else:
        raise ValueError(f"dataset.day_of_week={day_of_week!r} is unknown; choose onehot or sincos")
    return np.stack(columns, axis=1), names


def calendar_categories(interval_starts: pd.DatetimeIndex, step: pd.Timedelta) -> list[tuple[np.ndarray, int]]:
    """Per-row slot of the day and day of week as integer codes, with their numbers of levels."""
    slot = np.asarray((interval_starts - interval_starts.normalize()) // step, dtype=np.int64)
    return [(slot, math.ceil(ONE_DAY / step)), (np.asarray(interval_starts.day_of_week, dtype=np.int64), 7)]


@dataclass(frozen=True)
class WindowSplit:
    """Window starts per split (``train``/``val``/``test``) and the rows ``[first, stop)`` to fit the scaler on."""

    starts: dict[str, np.ndarray]
    fit_rows: tuple[int, int]


def _check_range(name: str, bounds: Sequence[int] | None, num_windows: int) -> tuple[int, int]:
    if bounds is None or len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= num_windows:
        raise ValueError(
            f"dataset.{name}={None if bounds is None else list(bounds)} must be [start, stop) window indices "
            f"with 0 <= start < stop <= {num_windows} (the number of windows in the series)"
        )
    return int(bounds[0]), int(bounds[1])


def split_by_ranges(num_rows: int, window: int, horizon: int, ranges: dict[str, Sequence[int] | None]) -> WindowSplit:
    """Splits from ``[start, stop)`` window-index ranges; the scaler sees every row the train windows touch."""
    reach = window - 1 + horizon
    checked = {split: _check_range(f"{split}_range", bounds, num_rows - reach) for split, bounds in ranges.items()}
    ordered = sorted(checked.items(), key=lambda item: item[1])
    for (first, (_, first_stop)), (second, (second_start, _)) in zip(ordered, ordered[1:]):
        if second_start < first_stop:
            raise ValueError(f"dataset.{first}_range and dataset.{second}_range overlap; a window goes to one split")
    train_start, train_stop = checked["train"]
    return WindowSplit(
        {split: np.arange(start, stop) for split, (start, stop) in checked.items()},
        (train_start, train_stop + reach),
    )


def split_by_fractions(num_rows: int, window: int, horizon: int, fractions: Sequence[float]) -> WindowSplit:
    """Splits cutting the rows in time order; a window goes where its target row lies."""
    reach = window - 1 + horizon
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.shape != (3,) or (shares <= 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(
            f"dataset.split={list(fractions)} must be three positive fractions (train, val, test) summing to 1"
        )
    train_end, val_end = (int(num_rows * bound + 1e-9) for bound in np.cumsum(shares)[:2])
    target_bounds = {"train": (reach, train_end), "val": (max(reach, train_end), val_end), "test": (val_end, num_rows)}
    starts = {split: np.arange(first, stop) - reach for split, (first, stop) in target_bounds.items()}
    for split, split_starts in starts.items():
        if len(split_starts) == 0:
            raise ValueError(
                f"dataset.split={list(fractions)} leaves no {split} windows in {num_rows} rows with window {window} "
                f"and horizon {horizon}; use more data, a shorter window or other fractions"
            )
    return WindowSplit(starts, (0, train_end))
