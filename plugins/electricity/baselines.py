"""Reference forecasts a trained model must beat, and the error figures that compare them.

All three work on the scaled series and on the same windows the model sees. A window is named by its
first row ``start``; its inputs are rows ``start .. start + window - 1`` and its target is row
``start + window - 1 + horizon`` (horizon 1 is the row right after the window).

- ``persistence``: the window's last value.
- ``seasonal_naive``: the value one season (a day) before the target time.
- ``linear_ar``: least squares on the window's values, an intercept and, where the model gets
  calendar features, the target time's slot of day and day of week as one-hots. The calendar of every
  step follows from the target's, so this is the information the model has, in a form a linear model
  can use. Fitted on the training windows through the normal equations in chunks, so a long window
  over a long series never needs the whole design matrix in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqkit.plugins.electricity.least_squares import RidgeRegression

#: Rows of the design matrix built at once.
CHUNK_ROWS = 8192
#: Ridge added to the normal equations, per training window; tiny, only to keep them solvable.
RIDGE_PER_WINDOW = 1e-9


def target_rows(starts: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """The row each window forecasts."""
    return starts + (window - 1 + horizon)


def error_metrics(predictions: np.ndarray, truth: np.ndarray, unit_scale: float) -> dict[str, float]:
    """MSE, RMSE, MAE on the scaled values and in the original unit (``error_in_unit = error * scale``)."""
    errors = np.asarray(predictions, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    mse = float(np.mean(errors**2))
    mae = float(np.mean(np.abs(errors)))
    return {
        "mse": mse,
        "rmse": mse**0.5,
        "mae": mae,
        "mse_kw": mse * unit_scale**2,
        "rmse_kw": mse**0.5 * unit_scale,
        "mae_kw": mae * unit_scale,
    }


def persistence(values: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The last input value of each window."""
    return values[starts + window - 1]


def seasonal_naive(values: np.ndarray, starts: np.ndarray, window: int, horizon: int, season: int) -> np.ndarray:
    """The value ``season`` rows before each target; every target must have that much history."""
    earlier = target_rows(starts, window, horizon) - season
    if earlier.size and earlier.min() < 0:
        raise ValueError(f"seasonal naive needs {season} rows before each target; the first window has fewer")
    return values[earlier]


class LinearAutoregression:
    """Least-squares forecast from a window of values, an intercept and one-hot calendar categories.

    ``categories`` are per-row integer codes (e.g. slot of day, day of week) with their number of levels;
    each is one-hot encoded at the target row, level 0 dropped because the intercept stands for it.
    """

    def __init__(
        self,
        values: np.ndarray,
        window: int,
        horizon: int,
        categories: Sequence[tuple[np.ndarray, int]] = (),
    ):
        self.values = np.asarray(values, dtype=np.float64)
        self.window = window
        self.horizon = horizon
        self.categories = list(categories)
        self.weights: np.ndarray | None = None

    @property
    def num_features(self) -> int:
        return self.window + 1 + sum(levels - 1 for _codes, levels in self.categories)

    def design(self, starts: np.ndarray) -> np.ndarray:
        """One row of inputs per window: the window's values, 1, the one-hot categories of its target."""
        rows = np.empty((len(starts), self.num_features))
        rows[:, : self.window] = self.values[starts[:, None] + np.arange(self.window)]
        rows[:, self.window] = 1.0
        column = self.window + 1
        targets = target_rows(starts, self.window, self.horizon)
        for codes, levels in self.categories:
            block = np.zeros((len(starts), levels))
            block[np.arange(len(starts)), codes[targets]] = 1.0
            rows[:, column : column + levels - 1] = block[:, 1:]
            column += levels - 1
        return rows

    def fit(self, starts: np.ndarray) -> LinearAutoregression:
        if len(starts) < self.num_features:
            raise ValueError(
                f"linear AR has {self.num_features} weights but only {len(starts)} training windows; "
                "use more training data or a shorter window"
            )
        # The intercept (column ``window``) is not shrunk.
        regression = RidgeRegression(self.num_features, RIDGE_PER_WINDOW, unshrunk=[self.window])
        for chunk in np.array_split(starts, max(1, len(starts) // CHUNK_ROWS)):
            regression.add(self.design(chunk), self.values[target_rows(chunk, self.window, self.horizon)])
        self.weights = regression.solve()
        return self

    def predict(self, starts: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("LinearAutoregression.predict called before fit")
        chunks = np.array_split(starts, max(1, len(starts) // CHUNK_ROWS))
        return np.concatenate([self.design(chunk) @ self.weights for chunk in chunks])
