"""The minimal gated unit (Zhou, Wu, Zhang & Zhou, 2016): a GRU with a single forget gate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from seqkit.components import Cell, State


@dataclass
class MGUConfig:
    hidden_size: int = 32


class MGUCell(Cell):
    """``f = σ(W_f x + U_f h + b_f)``, ``h̃ = tanh(W_h x + U_h (f ⊙ h) + b_h)``, ``h' = (1 - f) ⊙ h + f ⊙ h̃``."""

    def __init__(self, config: MGUConfig, input_size: int):
        super().__init__()
        if config.hidden_size < 1:
            raise ValueError(f"cell.hidden_size must be at least 1, got {config.hidden_size}")
        self.input_size, self.hidden_size = input_size, config.hidden_size
        hidden = config.hidden_size
        # Input weights for both the gate and the candidate in one matrix: one matmul per step.
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden, input_size))
        self.weight_hf = nn.Parameter(torch.empty(hidden, hidden))
        self.weight_hh = nn.Parameter(torch.empty(hidden, hidden))
        self.bias = nn.Parameter(torch.empty(2 * hidden))
        bound = 1.0 / math.sqrt(hidden)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        (h,) = state
        x_forget, x_candidate = (x @ self.weight_ih.T + self.bias).chunk(2, dim=-1)
        forget = torch.sigmoid(x_forget + h @ self.weight_hf.T)
        candidate = torch.tanh(x_candidate + (forget * h) @ self.weight_hh.T)
        h = (1 - forget) * h + forget * candidate
        return h, (h,)
