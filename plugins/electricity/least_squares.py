"""Ridge least squares through the normal equations, accumulated a chunk of rows at a time in float64.

Memory stays at ``features ** 2`` numbers however many rows there are, so a long window over a long
series never needs its whole design matrix at once. A ridge in proportion to the number of rows keeps
one-hot or constant columns (which sum to the intercept) from making the system singular.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class RidgeRegression:
    """Fits ``targets ~ rows @ weights`` with a ridge of ``ridge_per_row * rows seen`` on each weight.

    ``unshrunk`` lists the columns the ridge leaves alone (an intercept column, say).
    """

    def __init__(self, num_features: int, ridge_per_row: float, unshrunk: Sequence[int] = ()):
        self.num_features = num_features
        self.ridge_per_row = ridge_per_row
        self.unshrunk = list(unshrunk)
        self.gram = np.zeros((num_features, num_features))
        self.moments: np.ndarray | None = None
        self.rows_seen = 0

    def add(self, rows: np.ndarray, targets: np.ndarray) -> None:
        """Add a chunk: ``rows`` ``(n, features)``, ``targets`` ``(n,)`` or ``(n, outputs)``."""
        rows, targets = np.asarray(rows, dtype=np.float64), np.asarray(targets, dtype=np.float64)
        self.gram += rows.T @ rows
        moments = rows.T @ targets
        self.moments = moments if self.moments is None else self.moments + moments
        self.rows_seen += len(rows)

    def solve(self) -> np.ndarray:
        """The weights, ``(features,)`` or ``(features, outputs)`` like the targets."""
        if self.moments is None:
            raise ValueError("least squares on no rows: there is nothing to fit")
        ridge = np.full(self.num_features, self.ridge_per_row * self.rows_seen)
        ridge[self.unshrunk] = 0.0
        return np.linalg.solve(self.gram + np.diag(ridge), self.moments)
