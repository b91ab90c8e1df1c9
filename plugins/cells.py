"""The built-in recurrent cells: ``rnn``, ``lstm``, ``gru`` and ``peephole``.

Parameters are named and laid out like PyTorch's (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``; gate order i, f, g, o for LSTMs and r, z, n for the GRU), so weights copy one to one
between a seqkit cell and ``nn.LSTM``/``nn.GRU``/``nn.RNN``.

Each cell runs a whole sequence by one of three paths (its ``sequence_path`` says which):

- ``kernel``: PyTorch's fused ``nn.LSTM``/``nn.GRU``/``nn.RNN`` kernel, called with the cell's own
  parameters (an LSTM's forget bias is folded into the bias handed to the kernel);
- ``bptt``: a hand-written backward through time (:mod:`seqkit.plugins.lstm_bptt`) for the LSTM
  options the kernel cannot do: peepholes, a non-tanh activation, cell clipping;
- ``steps``: the input projections of the whole sequence in one matmul, then the recurrence stepped
  under autograd; taken when the config says ``fused: false`` (the reference path, and the one
  ``torch.compile`` can trace end to end).

All three give the same outputs and gradients for the same weights.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqkit import hookimpl
from seqkit.components import Cell, State
from seqkit.hookspecs import RegisterComponent
from seqkit.plugins.lstm_bptt import ACTIVATIONS, activate, lstm_layer

SequencePath = Literal["kernel", "bptt", "steps"]
NONLINEARITIES: tuple[str, ...] = ("relu", "tanh")


# ---------------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------------


@dataclass
class RNNConfig:
    """Elman RNN: ``h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh)``."""

    hidden_size: int = 128
    #: ``tanh`` or ``relu``.
    nonlinearity: str = "tanh"
    #: Run whole sequences through PyTorch's fused kernel; ``false`` steps under autograd.
    fused: bool = True
    #: DropConnect on the hidden-to-hidden weights in training (see ``LSTMConfig.weight_drop``).
    weight_drop: float = 0.0


@dataclass
class LSTMConfig:
    """LSTM (gates i, f, g, o) with the options of the classic basic LSTM cell."""

    hidden_size: int = 128
    #: Added to the forget gate's pre-activation, so a fresh cell starts by remembering.
    forget_bias: float = 1.0
    #: Activation of the cell input and of the cell output: ``tanh``, ``relu`` or ``softsign``.
    activation: str = "tanh"
    #: Clamp the cell state to ``[-cell_clip, cell_clip]`` after each update; ``null``: no clipping.
    cell_clip: float | None = None
    #: Use a whole-sequence path (fused kernel or hand-written backward); ``false`` steps under autograd.
    fused: bool = True
    #: DropConnect on the hidden-to-hidden weights in training (Merity et al. 2017, "AWD-LSTM"): this
    #: fraction of ``weight_hh`` is zeroed, one mask per sequence, so the recurrence is regularised
    #: without disturbing the state it carries (dropout on the state itself does).
    weight_drop: float = 0.0


@dataclass
class GRUConfig:
    """GRU as in ``nn.GRU``: gates r, z, n; the reset gate applies after the hidden matmul."""

    hidden_size: int = 128
    #: Run whole sequences through PyTorch's fused kernel; ``false`` steps under autograd.
    fused: bool = True
    #: DropConnect on the hidden-to-hidden weights in training (see ``LSTMConfig.weight_drop``).
    weight_drop: float = 0.0


@dataclass
class PeepholeConfig(LSTMConfig):
    """LSTM with diagonal peephole connections (Gers & Schmidhuber); the same options as ``lstm``."""


# ---------------------------------------------------------------------------------------------------
# Validation and initialisation
# ---------------------------------------------------------------------------------------------------


def _check_hidden_size(hidden_size: int) -> None:
    if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size < 1:
        raise ValueError(f"cell.hidden_size must be an integer of at least 1; got {hidden_size!r}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"cell.{key} must be one of {', '.join(choices)}; got {value!r}")


class _RecurrentCell(Cell):
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


# ---------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------


class RNNCell(_RecurrentCell):
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
        _check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
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


class GRUCell(_RecurrentCell):
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


class LSTMCell(_RecurrentCell):
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
        _check_choice("activation", activation, ACTIVATIONS)
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


# ---------------------------------------------------------------------------------------------------
# Factories and registration
# ---------------------------------------------------------------------------------------------------


def make_rnn(config: RNNConfig, input_size: int) -> RNNCell:
    """Elman RNN (tanh or relu)."""
    return RNNCell(input_size, config.hidden_size, config.nonlinearity, config.fused, config.weight_drop)


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


def make_gru(config: GRUConfig, input_size: int) -> GRUCell:
    """GRU (PyTorch's formulation)."""
    return GRUCell(input_size, config.hidden_size, config.fused, config.weight_drop)


def make_peephole(config: PeepholeConfig, input_size: int) -> PeepholeLSTMCell:
    """LSTM with diagonal peephole connections."""
    return _lstm_like(PeepholeLSTMCell, config, input_size)


@hookimpl
def register_cells(register: RegisterComponent) -> None:
    register("rnn", make_rnn, RNNConfig)
    register("lstm", make_lstm, LSTMConfig)
    register("gru", make_gru, GRUConfig)
    register("peephole", make_peephole, PeepholeConfig)
