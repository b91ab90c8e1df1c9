"""Runs any cell through time: stacked layers, dropout between them, and state carried across batches.

Each layer's cell gets the whole sequence through ``Cell.forward_sequence``: a fused kernel or a
hand-written backward where the cell has one, a loop over its steps otherwise. Both paths must agree,
which the cell checks verify by comparing with :func:`step_through_time`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqkit.components import Cell, State

#: The state of a whole stack: one cell state per layer.
StackState = list[State]

CellFactory = Callable[[int], Cell]


def step_through_time(cell: Cell, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """Run ``cell`` over ``inputs`` ``(batch, time, features)`` one ``forward`` step at a time, whatever
    whole-sequence path it has: the reference its ``forward_sequence`` must match."""
    return Cell.forward_sequence(cell, inputs, state)


def run_cell(cell: Cell, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """Run one layer over a sequence through the cell's whole-sequence path."""
    return cell.forward_sequence(inputs, state)


def detach_state(state: StackState | None) -> StackState | None:
    """Cut the graph behind a carried state (truncated backpropagation through time)."""
    if state is None:
        return None
    return [tuple(t.detach() for t in layer) for layer in state]


class RecurrentStack(nn.Module):
    """``num_layers`` cells, each reading the hidden sequence of the one below.

    ``cell_factory(input_size)`` builds one layer; dropout is applied between layers (not after the
    top one, as in ``nn.LSTM``) and only in training mode.
    """

    def __init__(self, cell_factory: CellFactory, input_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"model.num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout}")
        layers = []
        for _ in range(num_layers):
            cell = cell_factory(input_size)
            layers.append(cell)
            input_size = cell.hidden_size
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)

    @property
    def hidden_size(self) -> int:
        return self.layers[-1].hidden_size

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> StackState:
        return [cell.initial_state(batch_size, device, dtype) for cell in self.layers]

    def forward(self, inputs: torch.Tensor, state: StackState | None = None) -> tuple[torch.Tensor, StackState]:
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs.device, inputs.dtype)
        new_state: StackState = []
        hidden = inputs
        for index, (cell, layer_state) in enumerate(zip(self.layers, state, strict=True)):
            if index > 0:
                hidden = self.dropout(hidden)
            hidden, layer_state = run_cell(cell, hidden, layer_state)
            new_state.append(layer_state)
        return hidden, new_state
