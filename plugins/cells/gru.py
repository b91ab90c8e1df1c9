"""The ``gru`` cell: a GRU as ``nn.GRUCell`` computes it, the reset gate applied after the hidden matmul."""

from __future__ import annotations

import torch

from seqkit.components import State
from seqkit.plugins.cells.base import RecurrentCell
from seqkit.plugins.cells.configs import GRUConfig


class GRUCell(RecurrentCell):
    """GRU cell as ``nn.GRUCell`` computes it: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""

    gate_count = 3

    def __init__(self, input_size: int, hidden_size: int, fused: bool = True, weight_drop: float = 0.0):
        super().__init__(input_size, hidden_size, fused, weight_drop)
        self.reset_parameters()

    def _step(self, projected: torch.Tensor, state: State, weight_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        h = state[0]
        recurrent = torch.addmm(self.bias_hh, h, weight_hh.t())
        input_r, input_z, input_n = projected.chunk(3, dim=1)
        hidden_r, hidden_z, hidden_n = recurrent.chunk(3, dim=1)
        reset = torch.sigmoid(input_r + hidden_r)
        update = torch.sigmoid(input_z + hidden_z)
        candidate = torch.tanh(torch.addcmul(input_n, reset, hidden_n))
        h = torch.lerp(candidate, h, update)  # (1 - z) * n + z * h
        return h, (h,)

    def _kernel(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        weights = (self.weight_ih, self._recurrent_weight(), self.bias_ih, self.bias_hh)
        outputs, h = torch.gru(inputs, state[0].unsqueeze(0), weights, True, 1, 0.0, self.training, False, True)
        return outputs, (h.squeeze(0),)


def make_gru(config: GRUConfig, input_size: int) -> GRUCell:
    """GRU (PyTorch's formulation)."""
    return GRUCell(input_size, config.hidden_size, config.fused, config.weight_drop)
