"""The recurrent runner: stepping any cell through time, stacking layers, dropout, carried state."""

import pytest
import torch

from seqkit.recurrent import RecurrentStack, detach_state, run_cell, step_through_time

from toy_plugin import ToyCell, ToyCellConfig


def toy_factory(hidden_size: int = 4):
    return lambda input_size: ToyCell(ToyCellConfig(hidden_size=hidden_size), input_size)


def test_stepping_matches_the_cell_applied_by_hand():
    torch.manual_seed(0)
    cell = ToyCell(ToyCellConfig(hidden_size=3), 2)
    inputs = torch.randn(5, 4, 2)
    outputs, (h,) = step_through_time(cell, inputs, (torch.zeros(5, 3),))
    expected = torch.zeros(5, 3)
    for t in range(4):
        expected = torch.tanh(
            inputs[:, t] @ cell.step.weight_ih.T
            + cell.step.bias_ih
            + expected @ cell.step.weight_hh.T
            + cell.step.bias_hh
        )
        assert torch.allclose(outputs[:, t], expected, atol=1e-6)
    assert torch.equal(h, outputs[:, -1])


def test_run_cell_prefers_a_whole_sequence_path():
    class WithSequencePath(ToyCell):
        def forward_sequence(self, inputs, state):
            return torch.full((inputs.shape[0], inputs.shape[1], self.hidden_size), 7.0), state

    cell = WithSequencePath(ToyCellConfig(hidden_size=2), 1)
    outputs, _ = run_cell(cell, torch.zeros(1, 3, 1), (torch.zeros(1, 2),))
    assert torch.equal(outputs, torch.full((1, 3, 2), 7.0))


def test_stacked_layers_feed_each_other_and_keep_one_state_per_layer():
    torch.manual_seed(0)
    stack = RecurrentStack(toy_factory(4), input_size=3, num_layers=2)
    inputs = torch.randn(2, 5, 3)
    outputs, state = stack(inputs)
    first, _ = step_through_time(stack.layers[0], inputs, (torch.zeros(2, 4),))
    second, _ = step_through_time(stack.layers[1], first, (torch.zeros(2, 4),))
    assert torch.allclose(outputs, second)
    assert len(state) == 2 and state[1][0].shape == (2, 4)


def test_state_carried_across_batches_continues_the_sequence():
    torch.manual_seed(0)
    stack = RecurrentStack(toy_factory(4), input_size=3, num_layers=2)
    inputs = torch.randn(2, 8, 3)
    whole, _ = stack(inputs)
    first_half, state = stack(inputs[:, :4])
    second_half, _ = stack(inputs[:, 4:], detach_state(state))
    assert torch.allclose(torch.cat([first_half, second_half], dim=1), whole, atol=1e-6)


def test_detached_state_cuts_the_graph():
    stack = RecurrentStack(toy_factory(2), input_size=1)
    _, state = stack(torch.randn(1, 3, 1))
    assert state[0][0].requires_grad
    detached = detach_state(state)
    assert not detached[0][0].requires_grad and torch.equal(detached[0][0], state[0][0])
    assert detach_state(None) is None


def test_dropout_applies_between_layers_only_in_training():
    torch.manual_seed(0)
    stack = RecurrentStack(toy_factory(8), input_size=3, num_layers=2, dropout=0.5)
    inputs = torch.randn(4, 6, 3)
    stack.eval()
    assert torch.equal(stack(inputs)[0], stack(inputs)[0])
    stack.train()
    assert not torch.equal(stack(inputs)[0], stack(inputs)[0])
    single = RecurrentStack(toy_factory(8), input_size=3, num_layers=1, dropout=0.5)
    assert torch.equal(single(inputs)[0], single(inputs)[0])  # no dropout after the top layer


@pytest.mark.parametrize(("num_layers", "dropout", "key"), [(0, 0.0, "num_layers"), (1, 1.0, "dropout")])
def test_bad_shape_options_name_the_key(num_layers, dropout, key):
    with pytest.raises(ValueError, match=f"model.{key}"):
        RecurrentStack(toy_factory(), input_size=1, num_layers=num_layers, dropout=dropout)
