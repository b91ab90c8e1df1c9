"""Built-in heads: ``regression`` (real-valued targets, MSE, skill scores) and ``softmax`` (token targets,
cross-entropy)."""

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


class LinearHead(Head):
    """A linear map from hidden states to predictions, with dropout before it.

    Many-to-one data (a window predicting one value) is read off the last hidden state; data with a
    target at every step (``spec.sequence_targets``) off every one. Subclasses say which kind of target
    they fit (``target_kind``) and how they score it.
    """

    #: The name the head is registered under, for error messages.
    name: str
    target_kind: str

    def __init__(self, config: RegressionConfig | SoftmaxConfig, hidden_size: int, spec: DataSpec):
        super().__init__()
        if spec.target_kind != self.target_kind:
            target = "real-valued" if self.target_kind == "real" else "token"
            raise ValueError(f"head {self.name!r} needs {target} targets; this dataset has {spec.target_kind}")
        if not 0.0 <= config.dropout < 1.0:
            raise ValueError(f"head.dropout must be in [0, 1); got {config.dropout}")
        self.spec = spec
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(hidden_size, spec.target_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        last_or_every = hidden if self.spec.sequence_targets else hidden[:, -1]
        return self.linear(self.dropout(last_or_every))


class RegressionHead(LinearHead):
    """MSE regression; reports MSE/RMSE/MAE on the scaled values and, with a unit scale, in the original unit.

    Beside the dataset's baselines it reports ``skill_vs_<baseline>``: ``1 - mse / baseline mse`` (1 is
    perfect, 0 no better than the baseline, negative worse).
    """

    name = "regression"
    target_kind = "real"
    main_metric = "mse"

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

    def derived_metrics(self, metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, float]:
        mse = metrics.get("mse")
        return {
            f"skill_vs_{name}": 1.0 - mse / baseline["mse"]
            for name, baseline in baselines.items()
            if mse is not None and baseline.get("mse")
        }


class SoftmaxHead(LinearHead):
    """Cross-entropy over a vocabulary; reports loss (nats), bits per character, perplexity and accuracy."""

    name = "softmax"
    target_kind = "tokens"
    main_metric = "loss"

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
