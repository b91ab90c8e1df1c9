"""What the built-in cells share: option checks, parameters laid out like PyTorch's, and the sequence paths.

A cell runs a whole sequence by the path its ``sequence_path`` names (``kernel``, ``bptt`` or ``steps``;
see :mod:`seqkit.plugins.cells`); this module holds the ``kernel`` and ``steps`` plumbing, the LSTM adds
``bptt``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.components import Cell, State

SequencePath = Literal["kernel", "bptt", "steps"]


def _check_hidden_size(hidden_size: int) -> None:
    if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size < 1:
        raise ValueError(f"cell.hidden_size must be an integer of at least 1; got {hidden_size!r}")


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"cell.{key} must be one of {', '.join(choices)}; got {value!r}")


class RecurrentCell(Cell):
    """Parameters, initialisation and the step/sequence plumbing shared by the built-in cells.

    A subclass sets ``gate_count`` and implements ``_step`` (the recurrent part of one step, given the
    step's input projection) and ``_kernel``; it overrides ``_input_bias`` to fold more biases in.
    """

    gate_count: int

    def __init__(self, input_size: int, hidden_size: int, fused: bool, weight_drop: float):
        super().__init__()
        _check_hidden_size(hidden_size)
        if input_size < 1:
            raise ValueError(f"cell input size must be at least 1; got {input_size}")
        if not 0.0 <= weight_drop < 1.0:
            raise ValueError(f"cell.weight_drop must be in [0, 1); got {weight_drop!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.fused = bool(fused)
        self.weight_drop = float(weight_drop)
        width = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(width, input_size))
        self.weight_hh = nn.Parameter(torch.empty(width, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(width))
        self.bias_hh = nn.Parameter(torch.empty(width))

    def reset_parameters(self) -> None:
        """PyTorch's initialisation for recurrent layers: every parameter uniform in ``+-1/sqrt(hidden)``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    @property
    def sequence_path(self) -> SequencePath:
        """How ``forward_sequence`` runs: ``kernel``, ``bptt`` or ``steps``."""
        return "kernel" if self.fused else "steps"

    def _input_bias(self) -> torch.Tensor:
        """The bias added to the input projection (the biases that can be folded in before the recurrence)."""
        return self.bias_ih

    def _recurrent_weight(self) -> torch.Tensor:
        """``weight_hh`` as this call uses it: with DropConnect in training, one mask per call."""
        if self.training and self.weight_drop:
            return F.dropout(self.weight_hh, self.weight_drop)
        return self.weight_hh

    @abstractmethod
    def _step(self, projected: torch.Tensor, state: State, weight_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """The recurrent part of one step, given the step's input projection ``(batch, gates * hidden)``."""

    @abstractmethod
    def _kernel(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The whole sequence through PyTorch's fused kernel, with this cell's parameters."""

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self._step(F.linear(x, self.weight_ih, self._input_bias()), state, self._recurrent_weight())

    def forward_sequence(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Run ``inputs`` ``(batch, time, input)``; returns ``(batch, time, hidden)`` and the final state."""
        if self.sequence_path == "kernel":
            return self._kernel(inputs, state)
        return self._steps(inputs, state)

    def _steps(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        # One matmul for the input side of every step; only the recurrent part is stepped.
        projected = F.linear(inputs, self.weight_ih, self._input_bias())
        weight_hh = self._recurrent_weight()  # one DropConnect mask for every step of the sequence
        outputs = []
        for t in range(projected.shape[1]):
            h, state = self._step(projected[:, t], state, weight_hh)
            outputs.append(h)
        return torch.stack(outputs, dim=1), state

    def extra_repr(self) -> str:
        drop = f", weight_drop={self.weight_drop}" if self.weight_drop else ""
        return f"{self.input_size}, {self.hidden_size}, path={self.sequence_path}{drop}"
