"""Built-in heads: ``regression`` (real-valued targets, MSE) and ``softmax`` (token targets, cross-entropy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqkit import hookimpl
from seqkit.components import PADDING_TARGET, DataSpec, Head


@dataclass
class RegressionConfig:
    """Linear map from hidden states to the target; ``dropout`` before it."""

    dropout: float = 0.0


@dataclass
class SoftmaxConfig:
    """Linear map from hidden states to vocabulary logits; ``dropout`` before it."""

    dropout: float = 0.0


def _last_step_unless_sequence(hidden: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    # Many-to-one data (a window predicting one value) is read off the last hidden state.
    return hidden if spec.sequence_targets else hidden[:, -1]


class RegressionHead(Head):
    """MSE regression; reports MSE/RMSE/MAE on the scaled values and, with a unit scale, in the original unit."""

    main_metric = "mse"

    def __init__(self, config: RegressionConfig, hidden_size: int, spec: DataSpec):
        super().__init__()
        if spec.target_kind != "real":
            raise ValueError(f"head 'regression' needs real-valued targets; this dataset has {spec.target_kind}")
        self.spec = spec
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(hidden_size, spec.target_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(_last_step_unless_sequence(hidden, self.spec)))

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions.float(), targets.reshape(predictions.shape).float())

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        errors = predictions.float() - targets.reshape(predictions.shape).float()
        return {
            "squared_error": float(errors.pow(2).sum()),
            "absolute_error": float(errors.abs().sum()),
            "count": float(errors.numel()),
        }

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        count = max(sums["count"], 1.0)
        mse = sums["squared_error"] / count
        mae = sums["absolute_error"] / count
        result = {"loss": mse, "mse": mse, "rmse": math.sqrt(mse), "mae": mae}
        scale, unit = self.spec.target_unit_scale, self.spec.target_unit
        if scale is not None and unit:
            result[f"mse_{unit}"] = mse * scale**2
            result[f"rmse_{unit}"] = math.sqrt(mse) * abs(scale)
            result[f"mae_{unit}"] = mae * abs(scale)
        return result


class SoftmaxHead(Head):
    """Cross-entropy over a vocabulary; reports loss (nats), bits per character, perplexity and accuracy."""

    main_metric = "loss"

    def __init__(self, config: SoftmaxConfig, hidden_size: int, spec: DataSpec):
        super().__init__()
        if spec.target_kind != "tokens":
            raise ValueError(f"head 'softmax' needs token targets; this dataset has {spec.target_kind}")
        self.spec = spec
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(hidden_size, spec.target_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(_last_step_unless_sequence(hidden, self.spec)))

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        flat = predictions.reshape(-1, predictions.shape[-1]).float()
        return F.cross_entropy(flat, targets.reshape(-1), ignore_index=PADDING_TARGET)

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        logits = predictions.reshape(-1, predictions.shape[-1]).float()
        flat_targets = targets.reshape(-1)
        scored = flat_targets != PADDING_TARGET
        return {
            "nats": float(F.cross_entropy(logits, flat_targets, reduction="sum", ignore_index=PADDING_TARGET)),
            "correct": float((logits.argmax(dim=-1) == flat_targets)[scored].sum()),
            "count": float(scored.sum()),
        }

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        count = max(sums["count"], 1.0)
        loss = sums["nats"] / count
        return {
            "loss": loss,
            "bpc": loss / math.log(2),
            "perplexity": math.exp(min(loss, 700.0)),  # capped: exp overflows a float past ~709
            "accuracy": sums["correct"] / count,
        }


@hookimpl
def register_heads(register) -> None:
    register("regression", RegressionHead, RegressionConfig)
    register("softmax", SoftmaxHead, SoftmaxConfig)
