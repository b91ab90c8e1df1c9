"""The ``lstm`` and ``peephole`` cells: an LSTM with a forget bias, a choice of activation and cell clipping.

The options PyTorch's fused kernel cannot run (peepholes, a non-tanh activation, cell clipping) take the
hand-written backward through time of :mod:`seqkit.plugins.cells.bptt`.
"""

from __future__ import annotations

import torch
from torch import nn

from seqkit.components import State
from seqkit.plugins.cells.base import RecurrentCell, SequencePath, check_choice
from seqkit.plugins.cells.bptt import ACTIVATIONS, activate, lstm_layer
from seqkit.plugins.cells.configs import LSTMConfig, PeepholeConfig


class LSTMCell(RecurrentCell):
    """LSTM cell laid out like ``nn.LSTMCell``, with a forget bias, a choice of activation and cell clipping."""

    gate_count = 4
    peephole = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        forget_bias: float = 1.0,
        activation: str = "tanh",
        cell_clip: float | None = None,
        fused: bool = True,
        weight_drop: float = 0.0,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        if cell_clip is not None and not cell_clip > 0:
            raise ValueError(f"cell.cell_clip must be positive (or null for no clipping); got {cell_clip!r}")
        super().__init__(input_size, hidden_size, fused, weight_drop)
        self.forget_bias = float(forget_bias)
        self.activation = activation
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        # The forget bias as a constant over the four gates: added to the biases on the way into the
        # computation, never stored in them, so the parameters stay exactly nn.LSTM's.
        offset = torch.zeros(4 * hidden_size)
        offset[hidden_size : 2 * hidden_size] = self.forget_bias
        self.register_buffer("forget_bias_offset", offset, persistent=False)
        if self.peephole:
            #: Diagonal peephole weights, one row per gate that sees the cell: input, forget, output.
            self.weight_peephole = nn.Parameter(torch.empty(3, hidden_size))
        self.reset_parameters()

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> State:
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return (zeros, zeros.clone())

    @property
    def sequence_path(self) -> SequencePath:
        if not self.fused:
            return "steps"
        if self.peephole or self.activation != "tanh" or self.cell_clip is not None:
            return "bptt"
        return "kernel"

    def _input_bias(self) -> torch.Tensor:
        bias = self.bias_ih + self.bias_hh
        return bias + self.forget_bias_offset if self.forget_bias else bias

    def _step(self, projected: torch.Tensor, state: State, weight_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        h, c = state
        gates = torch.addmm(projected, h, weight_hh.t())
        input_pre, forget_pre, cell_pre, output_pre = gates.chunk(4, dim=1)
        if self.peephole:
            peephole_input, peephole_forget, peephole_output = self.weight_peephole.unbind(0)
            input_pre = input_pre + peephole_input * c
            forget_pre = forget_pre + peephole_forget * c
        input_gate = torch.sigmoid(input_pre)
        forget_gate = torch.sigmoid(forget_pre)
        c = forget_gate * c + input_gate * activate(cell_pre, self.activation)
        if self.cell_clip is not None:
            c = c.clamp(-self.cell_clip, self.cell_clip)
        if self.peephole:
            output_pre = output_pre + peephole_output * c
        h = torch.sigmoid(output_pre) * activate(c, self.activation)
        return h, (h, c)

    def _kernel(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        bias_ih = self.bias_ih + self.forget_bias_offset if self.forget_bias else self.bias_ih
        weights = (self.weight_ih, self._recurrent_weight(), bias_ih, self.bias_hh)
        hx = (state[0].unsqueeze(0), state[1].unsqueeze(0))
        outputs, h, c = torch.lstm(inputs, hx, weights, True, 1, 0.0, self.training, False, True)
        return outputs, (h.squeeze(0), c.squeeze(0))

    def forward_sequence(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if self.sequence_path == "bptt":
            return self._bptt(inputs, state)
        return super().forward_sequence(inputs, state)

    def _bptt(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        weights = (self.weight_ih, self._recurrent_weight(), self.bias_ih, self.bias_hh)
        peephole = self.weight_peephole if self.peephole else None
        return lstm_layer(inputs, state, weights, peephole, self.forget_bias, self.activation, self.cell_clip)


class PeepholeLSTMCell(LSTMCell):
    """LSTM with diagonal peepholes: the input and forget gates see ``c_{t-1}``, the output gate ``c_t``."""

    peephole = True


def _lstm_like(cell_class: type[LSTMCell], config: LSTMConfig, input_size: int) -> LSTMCell:
    return cell_class(
        input_size,
        config.hidden_size,
        config.forget_bias,
        config.activation,
        config.cell_clip,
        config.fused,
        config.weight_drop,
    )


def make_lstm(config: LSTMConfig, input_size: int) -> LSTMCell:
    """LSTM with forget bias, activation choice and optional cell clipping."""
    return _lstm_like(LSTMCell, config, input_size)


def make_peephole(config: PeepholeConfig, input_size: int) -> PeepholeLSTMCell:
    """LSTM with diagonal peephole connections."""
    return _lstm_like(PeepholeLSTMCell, config, input_size)
