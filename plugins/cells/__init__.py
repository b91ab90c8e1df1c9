"""The built-in recurrent cells: ``rnn``, ``lstm``, ``gru`` and ``peephole``.

Parameters are named and laid out like PyTorch's (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``; gate order i, f, g, o for LSTMs and r, z, n for the GRU), so weights copy one to one
between a seqkit cell and ``nn.LSTM``/``nn.GRU``/``nn.RNN``.

Each cell runs a whole sequence by one of three paths (its ``sequence_path`` says which):

- ``kernel``: PyTorch's fused ``nn.LSTM``/``nn.GRU``/``nn.RNN`` kernel, called with the cell's own
  parameters (an LSTM's forget bias is folded into the bias handed to the kernel);
- ``bptt``: a hand-written backward through time (:mod:`seqkit.plugins.cells.bptt`) for the LSTM
  options the kernel cannot do: peepholes, a non-tanh activation, cell clipping;
- ``steps``: the input projections of the whole sequence in one matmul, then the recurrence stepped
  under autograd; taken when the config says ``fused: false`` (the reference path, and the one
  ``torch.compile`` can trace end to end).

All three give the same outputs and gradients for the same weights.

The plugin registers the four cells; each lives in a module of its own (:mod:`~seqkit.plugins.cells.rnn`,
:mod:`~seqkit.plugins.cells.gru`, :mod:`~seqkit.plugins.cells.lstm` for ``lstm`` and ``peephole``) on
the shared plumbing of :mod:`~seqkit.plugins.cells.base`; their options are in
:mod:`~seqkit.plugins.cells.configs`.
"""

from __future__ import annotations

from seqkit import hookimpl
from seqkit.hookspecs import RegisterComponent
from seqkit.plugins.cells.configs import GRUConfig, LSTMConfig, PeepholeConfig, RNNConfig
from seqkit.plugins.cells.gru import make_gru
from seqkit.plugins.cells.lstm import make_lstm, make_peephole
from seqkit.plugins.cells.rnn import make_rnn


@hookimpl
def register_cells(register: RegisterComponent) -> None:
    register("rnn", make_rnn, RNNConfig)
    register("lstm", make_lstm, LSTMConfig)
    register("gru", make_gru, GRUConfig)
    register("peephole", make_peephole, PeepholeConfig)
