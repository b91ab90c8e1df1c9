"""The cells' fast sequence paths against the step path: PyTorch's kernel and the hand-written backward."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from seqkit.plugins.cells.bptt import lstm_layer
from seqkit.plugins.cells.configs import LSTMConfig, PeepholeConfig
from seqkit.plugins.cells.gru import GRUCell
from seqkit.plugins.cells.lstm import LSTMCell, PeepholeLSTMCell, make_lstm, make_peephole
from seqkit.plugins.cells.rnn import RNNCell
from seqkit.recurrent import RecurrentStack

from cell_helpers import BATCH, HIDDEN, INPUT, STEPS, TOLERANCE, gradients, seeded, weighted_sum

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------------
# The fast paths agree with the step path
# ---------------------------------------------------------------------------------------------------


def fast_and_step_cells(make, config) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    fast = make(config, INPUT)
    steps = make(dataclasses.replace(config, fused=False), INPUT)
    steps.load_state_dict(fast.state_dict())
    return fast, steps


def sequence_parity(
    fast: nn.Module, steps: nn.Module, dtype: torch.dtype = torch.float32, batch: int = BATCH, length: int = STEPS
) -> None:
    fast, steps = fast.to(dtype), steps.to(dtype)
    generator = seeded(5)
    x = torch.randn(batch, length, INPUT, generator=generator, dtype=dtype, requires_grad=True)
    state = tuple(
        torch.randn(batch, fast.hidden_size, generator=generator, dtype=dtype, requires_grad=True)
        for _ in fast.initial_state(1, torch.device("cpu"), dtype)
    )
    outputs, final = fast.forward_sequence(x, state)
    expected, expected_final = steps.forward_sequence(x, state)
    torch.testing.assert_close(outputs, expected, **TOLERANCE)
    torch.testing.assert_close(final, expected_final, **TOLERANCE)
    ours = gradients(weighted_sum([outputs, *final]), [x, *state, *fast.parameters()])
    theirs = gradients(weighted_sum([expected, *expected_final]), [x, *state, *steps.parameters()])
    torch.testing.assert_close(ours, theirs, **TOLERANCE)


@pytest.mark.parametrize("forget_bias", [1.0, -0.5])
def test_lstm_kernel_with_forget_bias_matches_the_step_path(forget_bias):
    fast, steps = fast_and_step_cells(make_lstm, LSTMConfig(hidden_size=HIDDEN, forget_bias=forget_bias))
    assert fast.sequence_path == "kernel"
    sequence_parity(fast, steps)


@pytest.mark.parametrize(
    "config",
    [
        LSTMConfig(hidden_size=HIDDEN, activation="relu"),
        LSTMConfig(hidden_size=HIDDEN, activation="softsign"),
        LSTMConfig(hidden_size=HIDDEN, cell_clip=0.3),
        PeepholeConfig(hidden_size=HIDDEN),
        PeepholeConfig(hidden_size=HIDDEN, forget_bias=0.0, activation="softsign", cell_clip=0.3),
    ],
    ids=["lstm-relu", "lstm-softsign", "lstm-clip", "peephole", "peephole-softsign-clip"],
)
def test_hand_written_backward_matches_the_step_path(config):
    make = make_peephole if isinstance(config, PeepholeConfig) else make_lstm
    fast, steps = fast_and_step_cells(make, config)
    assert fast.sequence_path == "bptt"
    sequence_parity(fast, steps)


def test_hand_written_backward_matches_the_step_path_in_float64():
    fast, steps = fast_and_step_cells(make_peephole, PeepholeConfig(hidden_size=HIDDEN, cell_clip=0.5))
    sequence_parity(fast, steps, torch.float64)


def test_two_layer_peephole_stack_matches_the_step_path_from_a_zero_state():
    # The upper layer reads the lower one's output view, and neither initial state requires grad.
    torch.manual_seed(0)
    fast = RecurrentStack(lambda size: PeepholeLSTMCell(size, HIDDEN, cell_clip=1.5), INPUT, num_layers=2)
    steps = RecurrentStack(lambda size: PeepholeLSTMCell(size, HIDDEN, cell_clip=1.5, fused=False), INPUT, 2)
    steps.load_state_dict(fast.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, generator=seeded(13), requires_grad=True)
    outputs, final = fast(x)
    expected, expected_final = steps(x)
    torch.testing.assert_close((outputs, final), (expected, expected_final), **TOLERANCE)
    ours = gradients(weighted_sum([outputs, *final[1]]), [x, *fast.parameters()])
    theirs = gradients(weighted_sum([expected, *expected_final[1]]), [x, *steps.parameters()])
    torch.testing.assert_close(ours, theirs, **TOLERANCE)


@pytest.mark.parametrize(
    ("batch", "hidden"),
    [(12, 3), (16, 160), (300, 8)],
    ids=["batch-wider-than-hidden", "large-batch-major", "large-feature-major"],
)
def test_hand_written_backward_matches_the_step_path_in_either_memory_layout(batch, hidden):
    # The buffers are stored feature-major when the batch is wider than the hidden size, and large
    # blocks take tanh through the sigmoid: both must leave the numbers unchanged.
    fast, steps = fast_and_step_cells(make_peephole, PeepholeConfig(hidden_size=hidden, cell_clip=2.0))
    sequence_parity(fast, steps, batch=batch, length=3)


@pytest.mark.parametrize(
    "cell",
    [LSTMCell(INPUT, HIDDEN), PeepholeLSTMCell(INPUT, HIDDEN), GRUCell(INPUT, HIDDEN), RNNCell(INPUT, HIDDEN)],
    ids=["lstm-kernel", "peephole-bptt", "gru-kernel", "rnn-kernel"],
)
def test_a_sequence_run_in_two_halves_with_carried_state_equals_one_run(cell):
    x = torch.randn(BATCH, 2 * STEPS, INPUT, generator=seeded(6))
    state = cell.initial_state(BATCH, torch.device("cpu"), torch.float)
    whole, whole_state = cell.forward_sequence(x, state)
    first, middle_state = cell.forward_sequence(x[:, :STEPS], state)
    second, end_state = cell.forward_sequence(x[:, STEPS:], middle_state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, **TOLERANCE)
    torch.testing.assert_close(end_state, whole_state, **TOLERANCE)


# ---------------------------------------------------------------------------------------------------
# Gradients against finite differences (float64)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "cell_clip", "peephole", "batch", "steps"),
    [
        ("tanh", None, True, 2, 3),
        ("relu", None, False, 2, 3),
        ("softsign", 0.4, True, 5, 3),
        ("tanh", 0.3, False, 5, 3),
        ("tanh", 0.3, True, 2, 1),
    ],
)
def test_gradcheck_of_the_hand_written_backward(activation, cell_clip, peephole, batch, steps):
    # batch 5 > hidden 3: the feature-major memory layout; one step: no recurrence at all
    generator = seeded(12)

    def tensor(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()

    features, hidden = 3, 3
    inputs = (tensor(batch, steps, features), tensor(batch, hidden), tensor(batch, hidden))
    inputs += (tensor(4 * hidden, features), tensor(4 * hidden, hidden), tensor(4 * hidden), tensor(4 * hidden))
    inputs += (tensor(3, hidden),) if peephole else ()

    def run(x, h0, c0, *weights):
        peephole_weights = weights[4] if peephole else None
        outputs, (h, c) = lstm_layer(x, (h0, c0), weights[:4], peephole_weights, 0.7, activation, cell_clip)
        return outputs, h, c

    assert torch.autograd.gradcheck(run, inputs)
