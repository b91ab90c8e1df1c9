"""The ``rnn`` cell: an Elman RNN (tanh or relu), parameters laid out like ``nn.RNNCell``."""

from __future__ import annotations

import torch

from seqkit.components import State
from seqkit.plugins.cells.base import RecurrentCell, check_choice
from seqkit.plugins.cells.configs import RNNConfig

NONLINEARITIES: tuple[str, ...] = ("relu", "tanh")


class RNNCell(RecurrentCell):
    """Elman RNN cell, parameters laid out like ``nn.RNNCell``."""

    gate_count = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        fused: bool = True,
        weight_drop: float = 0.0,
    ):
        check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        super().__init__(input_size, hidden_size, fused, weight_drop)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def _input_bias(self) -> torch.Tensor:
        return self.bias_ih + self.bias_hh

    def _step(self, projected: torch.Tensor, state: State, weight_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        pre_activation = torch.addmm(projected, state[0], weight_hh.t())
        h = torch.tanh(pre_activation) if self.nonlinearity == "tanh" else torch.relu(pre_activation)
        return h, (h,)

    def _kernel(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        kernel = torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu
        weights = (self.weight_ih, self._recurrent_weight(), self.bias_ih, self.bias_hh)
        outputs, h = kernel(inputs, state[0].unsqueeze(0), weights, True, 1, 0.0, self.training, False, True)
        return outputs, (h.squeeze(0),)


def make_rnn(config: RNNConfig, input_size: int) -> RNNCell:
    """Elman RNN (tanh or relu)."""
    return RNNCell(input_size, config.hidden_size, config.nonlinearity, config.fused, config.weight_drop)
