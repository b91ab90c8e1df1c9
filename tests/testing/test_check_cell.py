"""seqkit.testing.check_cell passes a well-behaved cell and fails a broken one, naming the fault."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqkit.testing import check_cell

from toy_plugin import ToyCell, ToyCellConfig


def test_check_cell_accepts_a_plain_cell():
    cell = check_cell(ToyCell, ToyCellConfig(hidden_size=6), input_size=3)
    assert (cell.input_size, cell.hidden_size) == (3, 6)


def test_check_cell_rejects_a_module_that_is_not_a_cell():
    def factory(config, input_size):
        return nn.RNNCell(input_size, config.hidden_size)

    with pytest.raises(AssertionError, match="not a seqkit.components.Cell subclass"):
        check_cell(factory, ToyCellConfig())


def test_check_cell_rejects_a_wrong_state_shape():
    class WideState(ToyCell):
        def initial_state(self, batch_size, device, dtype):
            return (torch.zeros(batch_size, self.hidden_size + 1, device=device, dtype=dtype),)

    with pytest.raises(AssertionError, match=r"state\[0\] has shape \(4, 9\), expected"):
        check_cell(WideState, ToyCellConfig(hidden_size=8))


def test_check_cell_rejects_a_cell_that_ignores_its_state():
    class Forgetful(ToyCell):
        def forward(self, x, state):
            h = torch.tanh(self.step.weight_ih @ x.T).T
            return h, (h,)

    with pytest.raises(AssertionError, match="ignores its state"):
        check_cell(Forgetful, ToyCellConfig())


def test_check_cell_rejects_a_sequence_path_that_disagrees_with_stepping():
    class Reversed(ToyCell):
        def forward_sequence(self, inputs, state):
            outputs = []
            for t in reversed(range(inputs.shape[1])):
                h, state = self(inputs[:, t], state)
                outputs.append(h)
            return torch.stack(outputs, dim=1), state

    with pytest.raises(AssertionError, match="forward_sequence and stepping give different outputs"):
        check_cell(Reversed, ToyCellConfig())


def test_check_cell_rejects_a_sequence_path_with_wrong_gradients():
    class Truncated(ToyCell):
        def forward_sequence(self, inputs, state):
            outputs = []
            for t in range(inputs.shape[1]):
                h, _ = self(inputs[:, t], state)
                state = (h.detach(),)  # same numbers as stepping, but no gradient through time
                outputs.append(h)
            return torch.stack(outputs, dim=1), (h,)

    with pytest.raises(AssertionError, match=r"gradients of 'step\.\w+' differ between forward_sequence and stepping"):
        check_cell(Truncated, ToyCellConfig())


def test_check_cell_rejects_a_parameter_without_gradient():
    class Unused(ToyCell):
        def __init__(self, config, input_size):
            super().__init__(config, input_size)
            self.spare = nn.Parameter(torch.ones(3))

    with pytest.raises(AssertionError, match="parameter 'spare' gets no gradient"):
        check_cell(Unused, ToyCellConfig())
