"""Small stand-ins the checks build models with, so no check depends on any plugin's cell or head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.components import Cell, DataSpec, Head


class ProbeCell(Cell):
    """An Elman cell, so a sampler can be checked on a model without depending on any plugin's cell."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.step = nn.RNNCell(input_size, hidden_size)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        h = self.step(x, state[0])
        return h, (h,)


class ProbeHead(Head):
    """A linear head: cross-entropy for token targets, mean squared error for real ones."""

    def __init__(self, hidden_size: int, spec: DataSpec):
        super().__init__()
        self.spec = spec
        self.linear = nn.Linear(hidden_size, spec.target_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden if self.spec.sequence_targets else hidden[:, -1])

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.spec.target_kind == "tokens":
            return F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1))
        return F.mse_loss(predictions, targets.reshape(predictions.shape))

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        count = float(targets.numel())
        return {"total": float(self.loss(predictions, targets)) * count, "count": count}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["total"] / max(sums["count"], 1.0)}
