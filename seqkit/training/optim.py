"""Optimizers, learning-rate schedules and weight averaging, built from the ``optimizer``/``trainer`` config."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from seqkit.config import OptimizerConfig

#: Schedules and when they step: once per optimizer step, or once per epoch.
SCHEDULES = ("constant", "exponential", "cosine")


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """Any ``torch.optim`` optimizer by (case-insensitive) name, with the options it accepts."""
    classes = {name.lower(): cls for name, cls in vars(torch.optim).items() if isinstance(cls, type)}
    cls = classes.get(str(config.name).lower())
    if cls is None or not issubclass(cls, torch.optim.Optimizer):
        known = sorted(
            n for n, c in classes.items() if issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer
        )
        raise ValueError(f"unknown optimizer.name {config.name!r}; available: {', '.join(known)}")
    for key in ("lr", "weight_decay", "eps"):
        if getattr(config, key) < 0:
            raise ValueError(f"optimizer.{key} must be >= 0; got {getattr(config, key)}")
    options: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if cls in (torch.optim.SGD, torch.optim.RMSprop):
        options["momentum"] = config.momentum
    if cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adamax):
        options["betas"] = tuple(config.betas)
    if "eps" in cls.__init__.__code__.co_varnames:
        options["eps"] = config.eps
    if cls is torch.optim.Adagrad:
        # The classic Adagrad starts its accumulators at 0.1, which keeps the first steps from exploding.
        options["initial_accumulator_value"] = 0.1
    return cls(model.parameters(), **options)


class Schedule:
    """``optimizer.schedule``: ``constant``, ``exponential`` (times ``lr_decay`` after each epoch) or
    ``cosine`` (to 0 at ``trainer.max_steps``, stepped after each optimizer step)."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: OptimizerConfig, max_steps: int | None):
        if config.schedule not in SCHEDULES:
            raise ValueError(f"unknown optimizer.schedule {config.schedule!r}; available: {', '.join(SCHEDULES)}")
        self.name = config.schedule
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if self.name == "exponential":
            self.scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
        elif self.name == "cosine":
            if not max_steps:
                raise ValueError("optimizer.schedule=cosine needs trainer.max_steps")
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_steps)

    def after_step(self) -> None:
        if self.name == "cosine":
            self.scheduler.step()

    def after_epoch(self) -> None:
        if self.name == "exponential":
            self.scheduler.step()

    @property
    def length(self) -> int | None:
        """The number of steps a cosine schedule spans (``None`` for the others)."""
        return self.scheduler.T_max if self.name == "cosine" else None

    def state_dict(self) -> dict[str, Any] | None:
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


class WeightAverage:
    """``trainer.average_from``: the running mean of the weights after each step from ``start`` on.

    Stochastic weight averaging (Izmailov et al. 2018): validation, checkpoints, testing and sampling
    use the mean while training goes on with the raw weights.
    """

    def __init__(self, model: nn.Module, start: int):
        self.start = start
        self.averaged = AveragedModel(model)

    def update(self, model: nn.Module, step: int) -> None:
        """Fold ``model``'s weights into the mean once ``step`` (1-based, the step just taken) reaches the start."""
        if step >= self.start:
            self.averaged.update_parameters(model)

    @property
    def steps(self) -> int:
        return int(self.averaged.n_averaged)

    @property
    def model(self) -> nn.Module:
        return self.averaged.module

    def restore(self, weights: dict[str, torch.Tensor], steps: int) -> None:
        self.averaged.module.load_state_dict(weights)
        self.averaged.n_averaged.fill_(steps)
