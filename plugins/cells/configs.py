"""The options of the built-in cells: one dataclass per cell, stored by the host as ``cell/<name>``.

Only dataclasses, so the plugin can register its cells without building one.
"""

from __future__ import annotations

from dataclasses import dataclass


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
