"""The linear skip: a linear forecast from the last input steps, added to the network's own.

As LSTNet's autoregressive "highway", it lets the recurrent part learn what a linear forecast misses.
``dataset.linear_skip=N`` maps the last N steps' features to the target; with
``dataset.linear_skip_init=least_squares`` it starts as the ridge least-squares fit on the training
windows, so training starts from the linear forecast. The electricity plugin hands it to the host as
the dataset's model extension.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from seqkit.components import Batch, DataSpec, ModelExtension
from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.least_squares import RidgeRegression

INITS = ("random", "least_squares")
#: Ridge per training window of the least-squares start (it also shrinks the bias).
RIDGE_PER_WINDOW = 1e-6


class LinearSkip(ModelExtension):
    """``Linear(last steps' features) -> targets``, added to the head's predictions."""

    def __init__(self, steps: int, spec: DataSpec, init: str = "random"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"dataset.linear_skip_init must be one of {', '.join(INITS)}; got {init!r}")
        if spec.input_kind != "real" or spec.target_kind != "real" or spec.sequence_targets:
            raise ValueError("dataset.linear_skip needs real-valued inputs and one real-valued target per sequence")
        self.steps = steps
        self.init = init
        self.linear = nn.Linear(steps * spec.input_size, spec.target_size)

    def _last_steps(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[1] < self.steps:
            raise ValueError(f"dataset.linear_skip={self.steps} exceeds the {inputs.shape[1]} input steps")
        return inputs[:, -self.steps :].flatten(1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(self._last_steps(inputs))

    @torch.no_grad()
    def fit(self, batches: Iterable[Batch]) -> None:
        """With ``least_squares``: the ridge fit of the targets on the last steps (and a bias), in one pass."""
        if self.init != "least_squares":
            return
        regression = RidgeRegression(self.linear.in_features + 1, RIDGE_PER_WINDOW)
        for batch in batches:
            inputs = self._last_steps(batch.inputs).double().cpu().numpy()
            rows = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1)
            regression.add(rows, batch.targets.reshape(len(inputs), -1).double().cpu().numpy())
        if regression.rows_seen == 0:
            raise ValueError("the train split yields no batches to fit the linear skip on")
        solution = torch.from_numpy(regression.solve())
        self.linear.weight.copy_(solution[:-1].T.to(self.linear.weight))
        self.linear.bias.copy_(solution[-1].to(self.linear.bias))


def build_linear_skip(config: ElectricityConfig, spec: DataSpec) -> LinearSkip | None:
    """The dataset's model extension: a linear skip when ``dataset.linear_skip`` > 0, else none."""
    if config.linear_skip < 0:
        raise ValueError(f"dataset.linear_skip must be >= 0 (0: off), got {config.linear_skip}")
    return LinearSkip(config.linear_skip, spec, config.linear_skip_init) if config.linear_skip else None
