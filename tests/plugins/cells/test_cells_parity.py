"""The built-in cells against PyTorch's cells and modules, with DropConnect, by the equations and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqkit.plugins.cells.gru import GRUCell
from seqkit.plugins.cells.lstm import LSTMCell, PeepholeLSTMCell
from seqkit.plugins.cells.rnn import RNNCell
from seqkit.recurrent import RecurrentStack, step_through_time

from cell_helpers import BATCH, HIDDEN, INPUT, NAMES, STEPS, TOLERANCE, copy_layer, gradients, seeded, weighted_sum

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------------
# Parity with PyTorch's cells and modules
# ---------------------------------------------------------------------------------------------------


def step_parity(cell: nn.Module, reference: nn.Module, state: tuple, reference_state) -> None:
    with torch.no_grad():
        for name in NAMES:
            getattr(cell, name).copy_(getattr(reference, name))
    x = torch.randn(BATCH, INPUT, generator=seeded(2), requires_grad=True)
    h, new_state = cell(x, state)
    expected = reference(x, reference_state)
    expected = expected if isinstance(expected, tuple) else (expected,)
    torch.testing.assert_close(new_state, expected, **TOLERANCE)
    torch.testing.assert_close(h, expected[0], **TOLERANCE)
    ours = gradients(weighted_sum(list(new_state)), [x, *state, *(getattr(cell, n) for n in NAMES)])
    theirs = gradients(weighted_sum(list(expected)), [x, *state, *(getattr(reference, n) for n in NAMES)])
    torch.testing.assert_close(ours, theirs, **TOLERANCE)


def random_state(count: int) -> tuple[torch.Tensor, ...]:
    generator = seeded(3)
    return tuple(torch.randn(BATCH, HIDDEN, generator=generator, requires_grad=True) for _ in range(count))


def test_lstm_cell_step_matches_nn_lstm_cell():
    torch.manual_seed(0)
    state = random_state(2)
    step_parity(LSTMCell(INPUT, HIDDEN, forget_bias=0.0), nn.LSTMCell(INPUT, HIDDEN), state, state)


def test_gru_cell_step_matches_nn_gru_cell():
    torch.manual_seed(0)
    state = random_state(1)
    step_parity(GRUCell(INPUT, HIDDEN), nn.GRUCell(INPUT, HIDDEN), state, state[0])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_step_matches_nn_rnn_cell(nonlinearity):
    torch.manual_seed(0)
    state = random_state(1)
    step_parity(
        RNNCell(INPUT, HIDDEN, nonlinearity), nn.RNNCell(INPUT, HIDDEN, nonlinearity=nonlinearity), state, state[0]
    )


def torch_and_seqkit(kind: str, fused: bool) -> tuple[nn.Module, RecurrentStack]:
    """A 2-layer PyTorch module and a seqkit stack holding the same weights."""
    torch.manual_seed(0)
    if kind == "lstm":
        module = nn.LSTM(INPUT, HIDDEN, 2, batch_first=True)
        factory = lambda size: LSTMCell(size, HIDDEN, forget_bias=0.0, fused=fused)  # noqa: E731
    elif kind == "gru":
        module = nn.GRU(INPUT, HIDDEN, 2, batch_first=True)
        factory = lambda size: GRUCell(size, HIDDEN, fused=fused)  # noqa: E731
    else:
        nonlinearity = kind.removeprefix("rnn_")
        module = nn.RNN(INPUT, HIDDEN, 2, nonlinearity=nonlinearity, batch_first=True)
        factory = lambda size: RNNCell(size, HIDDEN, nonlinearity, fused=fused)  # noqa: E731
    stack = RecurrentStack(factory, INPUT, num_layers=2)
    for layer, cell in enumerate(stack.layers):
        copy_layer(cell, module, layer)
    return module, stack


def run_layers_by_steps(stack: RecurrentStack, inputs: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
    """The stack's layers, each stepped through time with ``forward`` only (how a third-party cell runs)."""
    new_state = []
    for cell, layer_state in zip(stack.layers, state, strict=True):
        inputs, layer_state = step_through_time(cell, inputs, layer_state)
        new_state.append(layer_state)
    return inputs, new_state


@pytest.mark.parametrize("runner", ["kernel", "steps", "step_through_time"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_two_layer_stack_matches_the_torch_module(kind, runner):
    module, stack = torch_and_seqkit(kind, fused=runner == "kernel")
    assert stack.layers[0].sequence_path == ("kernel" if runner == "kernel" else "steps")
    generator = seeded(4)
    x = torch.randn(BATCH, STEPS, INPUT, generator=generator, requires_grad=True)
    components = 2 if kind == "lstm" else 1
    initial = [torch.randn(2, BATCH, HIDDEN, generator=generator, requires_grad=True) for _ in range(components)]
    state = [tuple(t[layer] for t in initial) for layer in range(2)]

    outputs, final = run_layers_by_steps(stack, x, state) if runner == "step_through_time" else stack(x, state)
    expected, expected_final = module(x, tuple(initial) if kind == "lstm" else initial[0])
    expected_final = expected_final if kind == "lstm" else (expected_final,)
    torch.testing.assert_close(outputs, expected, **TOLERANCE)
    for component in range(components):
        torch.testing.assert_close(torch.stack([s[component] for s in final]), expected_final[component], **TOLERANCE)

    ours = gradients(weighted_sum([outputs, *final[0], *final[1]]), [x, *initial, *stack.parameters()])
    layer_major = [expected_final[component][layer] for layer in range(2) for component in range(components)]
    theirs = gradients(weighted_sum([expected, *layer_major]), [x, *initial, *module.parameters()])
    torch.testing.assert_close(ours, theirs, **TOLERANCE)


# ---------------------------------------------------------------------------------------------------
# DropConnect on the recurrent weights
# ---------------------------------------------------------------------------------------------------

DROPPING = [
    lambda **o: LSTMCell(INPUT, HIDDEN, **o),
    lambda **o: LSTMCell(INPUT, HIDDEN, activation="softsign", **o),
    lambda **o: PeepholeLSTMCell(INPUT, HIDDEN, **o),
    lambda **o: GRUCell(INPUT, HIDDEN, **o),
    lambda **o: RNNCell(INPUT, HIDDEN, **o),
]


@pytest.mark.parametrize("make", DROPPING)
@pytest.mark.parametrize("fused", [True, False])
def test_weight_drop_uses_one_mask_of_the_recurrent_weights_for_the_whole_sequence(make, fused):
    """In training the sequence runs as a plain cell whose ``weight_hh`` had one dropout mask applied."""
    torch.manual_seed(0)
    dropping = make(weight_drop=0.5, fused=fused)
    plain = make(fused=fused)
    plain.load_state_dict(dropping.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, generator=seeded(7))
    state = dropping.initial_state(BATCH, torch.device("cpu"), torch.float)
    torch.manual_seed(11)
    dropped_outputs, _ = dropping.train().forward_sequence(x, state)
    torch.manual_seed(11)
    with torch.no_grad():
        plain.weight_hh.copy_(torch.nn.functional.dropout(plain.weight_hh, 0.5))
    expected, _ = plain.forward_sequence(x, state)
    torch.testing.assert_close(dropped_outputs, expected, **TOLERANCE)
    assert not torch.allclose(dropped_outputs, dropping.forward_sequence(x, state)[0])  # a new mask per call


@pytest.mark.parametrize("make", DROPPING)
def test_weight_drop_is_off_in_evaluation(make):
    torch.manual_seed(0)
    dropping, plain = make(weight_drop=0.5), make()
    plain.load_state_dict(dropping.state_dict())
    x = torch.randn(BATCH, STEPS, INPUT, generator=seeded(8))
    state = dropping.initial_state(BATCH, torch.device("cpu"), torch.float)
    torch.testing.assert_close(dropping.eval().forward_sequence(x, state), plain.eval().forward_sequence(x, state))


def test_weight_drop_passes_gradient_to_the_kept_recurrent_weights_only():
    torch.manual_seed(0)
    cell = LSTMCell(INPUT, HIDDEN, weight_drop=0.5)
    torch.manual_seed(11)
    kept = torch.nn.functional.dropout(torch.ones_like(cell.weight_hh), 0.5) != 0
    x = torch.randn(BATCH, STEPS, INPUT, generator=seeded(9))
    torch.manual_seed(11)
    outputs, _ = cell.forward_sequence(x, cell.initial_state(BATCH, torch.device("cpu"), torch.float))
    weighted_sum([outputs]).backward()
    assert (cell.weight_hh.grad[~kept] == 0).all()
    assert (cell.weight_hh.grad[kept] != 0).all()


# ---------------------------------------------------------------------------------------------------
# The equations, written out by hand
# ---------------------------------------------------------------------------------------------------


def test_peephole_follows_the_equations_over_three_steps():
    torch.manual_seed(0)
    cell = PeepholeLSTMCell(2, 3, forget_bias=0.5)
    x = torch.randn(2, 3, 2, generator=seeded(7))
    h, c = torch.randn(2, 3, generator=seeded(8)), torch.randn(2, 3, generator=seeded(9))
    w_i, w_f, w_g, w_o = cell.weight_ih.detach().chunk(4)
    u_i, u_f, u_g, u_o = cell.weight_hh.detach().chunk(4)
    b_i, b_f, b_g, b_o = (cell.bias_ih + cell.bias_hh).detach().chunk(4)
    p_i, p_f, p_o = cell.weight_peephole.detach()
    expected = []
    for t in range(3):
        x_t = x[:, t]
        i = torch.sigmoid(x_t @ w_i.T + h @ u_i.T + b_i + p_i * c)
        f = torch.sigmoid(x_t @ w_f.T + h @ u_f.T + b_f + 0.5 + p_f * c)
        g = torch.tanh(x_t @ w_g.T + h @ u_g.T + b_g)
        c = f * c + i * g
        o = torch.sigmoid(x_t @ w_o.T + h @ u_o.T + b_o + p_o * c)
        h = o * torch.tanh(c)
        expected.append(h)
    with torch.no_grad():
        start = (torch.randn(2, 3, generator=seeded(8)), torch.randn(2, 3, generator=seeded(9)))
        outputs, (h_last, c_last) = cell.forward_sequence(x, start)
        stepped, _ = step_through_time(cell, x, start)
    torch.testing.assert_close(outputs, torch.stack(expected, dim=1), **TOLERANCE)
    torch.testing.assert_close(stepped, torch.stack(expected, dim=1), **TOLERANCE)
    torch.testing.assert_close((h_last, c_last), (h, c), **TOLERANCE)


def test_peephole_with_zero_peephole_weights_is_the_lstm():
    torch.manual_seed(0)
    peephole = PeepholeLSTMCell(INPUT, HIDDEN, forget_bias=1.0)
    lstm = LSTMCell(INPUT, HIDDEN, forget_bias=1.0)
    with torch.no_grad():
        peephole.weight_peephole.zero_()
    lstm.load_state_dict({name: value for name, value in peephole.state_dict().items() if name in NAMES})
    x = torch.randn(BATCH, STEPS, INPUT, generator=seeded(10))
    state = lstm.initial_state(BATCH, torch.device("cpu"), torch.float)
    with torch.no_grad():
        torch.testing.assert_close(peephole.forward_sequence(x, state), lstm.forward_sequence(x, state), **TOLERANCE)


def one_unit_lstm(biases: tuple[float, float, float, float], **options) -> LSTMCell:
    """A one-unit LSTM whose gates see only their biases: i, f, g, o pre-activations are ``biases``."""
    cell = LSTMCell(1, 1, **options)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.zero_()
        cell.bias_ih.copy_(torch.tensor(biases))
    return cell


def sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 2.5])
def test_forget_bias_is_added_to_the_forget_gate_pre_activation(forget_bias, fused):
    a_i, a_f, a_g, a_o, c0 = 0.3, -0.4, 0.8, 0.1, 0.9
    cell = one_unit_lstm((a_i, a_f, a_g, a_o), forget_bias=forget_bias, fused=fused)
    with torch.no_grad():
        _, (h, c) = cell.forward_sequence(torch.zeros(1, 1, 1), (torch.zeros(1, 1), torch.full((1, 1), c0)))
    expected_c = sigmoid(a_f + forget_bias) * c0 + sigmoid(a_i) * math.tanh(a_g)
    assert c.item() == pytest.approx(expected_c, abs=1e-6)
    assert h.item() == pytest.approx(sigmoid(a_o) * math.tanh(expected_c), abs=1e-6)


@pytest.mark.parametrize(
    ("activation", "function"),
    [("relu", lambda v: max(v, 0.0)), ("softsign", lambda v: v / (1 + abs(v))), ("tanh", math.tanh)],
)
@pytest.mark.parametrize("fused", [True, False])
def test_activation_applies_to_the_cell_input_and_the_cell_output(activation, function, fused):
    a_i, a_f, a_g, a_o, c0 = 0.3, 0.2, 1.7, 0.5, -0.6
    cell = one_unit_lstm((a_i, a_f, a_g, a_o), forget_bias=0.0, activation=activation, fused=fused)
    with torch.no_grad():
        _, (h, c) = cell.forward_sequence(torch.zeros(1, 1, 1), (torch.zeros(1, 1), torch.full((1, 1), c0)))
    expected_c = sigmoid(a_f) * c0 + sigmoid(a_i) * function(a_g)
    assert c.item() == pytest.approx(expected_c, abs=1e-6)
    assert h.item() == pytest.approx(sigmoid(a_o) * function(expected_c), abs=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_cell_clip_clamps_the_cell_state(fused):
    cell = one_unit_lstm((5.0, 5.0, 5.0, 0.0), forget_bias=0.0, cell_clip=0.5, fused=fused)
    with torch.no_grad():
        _, (h, c) = cell.forward_sequence(torch.zeros(1, 3, 1), (torch.zeros(1, 1), torch.full((1, 1), 0.4)))
    assert c.item() == pytest.approx(0.5)
    assert h.item() == pytest.approx(0.5 * math.tanh(0.5), abs=1e-6)


# ---------------------------------------------------------------------------------------------------
# Gradients against finite differences (float64)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        RNNCell(3, 4, "tanh"),
        LSTMCell(3, 4, forget_bias=1.0),
        LSTMCell(3, 4, activation="softsign", cell_clip=0.4),
        GRUCell(3, 4),
        PeepholeLSTMCell(3, 4),
    ],
    ids=["rnn", "lstm", "lstm-softsign-clip", "gru", "peephole"],
)
def test_gradcheck_of_the_cell_step(cell):
    cell = cell.double()
    generator = seeded(11)
    x = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    state = tuple(
        torch.randn(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)
        for _ in cell.initial_state(1, torch.device("cpu"), torch.float64)
    )
    names = [name for name, _ in cell.named_parameters()]

    def step(x, *tensors):
        parameters = dict(zip(names, tensors[len(state) :], strict=True))
        return torch.func.functional_call(cell, parameters, (x, tensors[: len(state)]))[1]

    assert torch.autograd.gradcheck(step, (x, *state, *cell.parameters()))
