"""What the cell tests share: small sizes, a tolerance, seeded inputs and a loss that weighs every element."""

from __future__ import annotations

import torch
from torch import nn

BATCH, STEPS, INPUT, HIDDEN = 3, 5, 4, 6
#: 1e-5, absolute (and relative for the few entries larger than 1, such as weight gradients summed over a batch).
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def copy_layer(cell: nn.Module, module: nn.Module, layer: int) -> None:
    """Copy layer ``layer`` of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` into a seqkit cell."""
    with torch.no_grad():
        for name in NAMES:
            getattr(cell, name).copy_(getattr(module, f"{name}_l{layer}"))


def gradients(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


def weighted_sum(tensors: list[torch.Tensor], seed: int = 1) -> torch.Tensor:
    """A loss that weighs every element differently, so a swapped element cannot go unnoticed."""
    generator = seeded(seed)
    return sum((t * torch.randn(t.shape, generator=generator)).sum() for t in tensors)
