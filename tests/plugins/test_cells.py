"""The built-in cells: parity with PyTorch's modules on every path, the equations, options, registration."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

import seqkit.plugins.cells as cells
from seqkit.plugins.cells import (
    GRUCell,
    GRUConfig,
    LSTMCell,
    LSTMConfig,
    PeepholeConfig,
    PeepholeLSTMCell,
    RNNCell,
    RNNConfig,
    make_gru,
    make_lstm,
    make_peephole,
    make_rnn,
)
from seqkit.plugins.lstm_bptt import lstm_layer
from seqkit.recurrent import RecurrentStack, step_through_time

BATCH, STEPS, INPUT, HIDDEN = 3, 5, 4, 6
#: 1e-5, absolute (and relative for the few entries larger than 1, such as weight gradients summed over a batch).
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors here are tiny: a second thread only adds synchronisation (and noise on a busy machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def copy_layer(cell: nn.Module, module: nn.Module, layer: int) -> None:
    """Copy layer ``layer`` of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` into a seqkit cell."""
    with torch.no_grad():
        for name in NAMES:
            getattr(cell, name).copy_(getattr(module, f"{name}_l{layer}"))


def gradients(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


def weighted_sum(tensors: list[torch.Tensor], seed: int = 1) -> torch.Tensor:
    """A loss that weighs every element differently, so a swapped element cannot go unnoticed."""
    generator = seeded(seed)
    return sum((t * torch.randn(t.shape, generator=generator)).sum() for t in tensors)


# ---------------------------------------------------------------------------------------------------
# Registration and options
# ---------------------------------------------------------------------------------------------------


def test_register_cells_registers_exactly_the_four_cells_with_their_configs():
    recorded = []
    cells.register_cells(register=lambda name, factory, config: recorded.append((name, factory, config)))
    assert recorded == [
        ("rnn", make_rnn, RNNConfig),
        ("lstm", make_lstm, LSTMConfig),
        ("gru", make_gru, GRUConfig),
        ("peephole", make_peephole, PeepholeConfig),
    ]


@pytest.mark.parametrize("config_class", [RNNConfig, LSTMConfig, GRUConfig, PeepholeConfig])
def test_configs_default_to_hidden_size_128_and_leave_name_to_the_host(config_class):
    fields = {f.name for f in dataclasses.fields(config_class)}
    assert config_class().hidden_size == 128
    assert "name" not in fields


def test_lstm_forget_bias_defaults_to_one():
    assert LSTMConfig().forget_bias == 1.0
    assert PeepholeConfig().forget_bias == 1.0


@pytest.mark.parametrize(
    ("factory", "config", "message"),
    [
        (make_lstm, LSTMConfig(activation="tan"), "cell.activation must be one of relu, softsign, tanh; got 'tan'"),
        (make_peephole, PeepholeConfig(activation="sigmoid"), "cell.activation must be one of"),
        (make_rnn, RNNConfig(nonlinearity="gelu"), "cell.nonlinearity must be one of relu, tanh; got 'gelu'"),
        (make_gru, GRUConfig(hidden_size=0), "cell.hidden_size must be an integer of at least 1; got 0"),
        (make_rnn, RNNConfig(hidden_size=-3), "cell.hidden_size"),
        (make_lstm, LSTMConfig(cell_clip=-1.0), "cell.cell_clip must be positive"),
        (make_peephole, PeepholeConfig(cell_clip=0.0), "cell.cell_clip must be positive"),
        (make_lstm, LSTMConfig(weight_drop=1.0), r"cell.weight_drop must be in \[0, 1\); got 1.0"),
        (make_gru, GRUConfig(weight_drop=-0.1), "cell.weight_drop must be in"),
    ],
)
def test_bad_option_values_raise_value_error_naming_the_key(factory, config, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        factory(config, INPUT)


def test_parameters_are_laid_out_like_torch_and_initialised_within_one_over_sqrt_hidden():
    torch.manual_seed(0)
    lstm = make_lstm(LSTMConfig(hidden_size=HIDDEN), INPUT)
    reference = nn.LSTMCell(INPUT, HIDDEN)
    assert {name: p.shape for name, p in lstm.named_parameters()} == {
        name: p.shape for name, p in reference.named_parameters()
    }
    bound = 1 / math.sqrt(HIDDEN)
    for parameter in lstm.parameters():
        assert parameter.abs().max() <= bound
        assert parameter.std() > bound / 4  # spread over the range, not constant


def test_peephole_weights_are_one_row_per_gate_and_initialised_like_the_rest():
    torch.manual_seed(0)
    cell = make_peephole(PeepholeConfig(hidden_size=HIDDEN), INPUT)
    assert cell.weight_peephole.shape == (3, HIDDEN)
    assert 0 < cell.weight_peephole.abs().max() <= 1 / math.sqrt(HIDDEN)


def test_forget_bias_is_not_stored_in_the_parameters():
    cell = make_lstm(LSTMConfig(hidden_size=HIDDEN, forget_bias=1.0), INPUT)
    before = {name: p.detach().clone() for name, p in cell.named_parameters()}
    cell.forward_sequence(torch.randn(BATCH, STEPS, INPUT), cell.initial_state(BATCH, torch.device("cpu"), torch.float))
    assert all(torch.equal(before[name], p) for name, p in cell.named_parameters())
    assert set(cell.state_dict()) == set(NAMES)


def test_initial_states_are_zeros_with_one_tensor_per_state_component():
    lstm_state = make_lstm(LSTMConfig(hidden_size=HIDDEN), INPUT).initial_state(2, torch.device("cpu"), torch.float64)
    gru_state = make_gru(GRUConfig(hidden_size=HIDDEN), INPUT).initial_state(2, torch.device("cpu"), torch.float64)
    assert [t.shape for t in lstm_state] == [(2, HIDDEN), (2, HIDDEN)]
    assert [t.shape for t in gru_state] == [(2, HIDDEN)]
    assert all(t.dtype == torch.float64 and not t.any() for t in (*lstm_state, *gru_state))


# ---------------------------------------------------------------------------------------------------
# Which path a whole sequence takes
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "path"),
    [
        (LSTMCell(INPUT, HIDDEN, forget_bias=0.0), "kernel"),
        (LSTMCell(INPUT, HIDDEN, forget_bias=1.0), "kernel"),
        (LSTMCell(INPUT, HIDDEN, activation="relu"), "bptt"),
        (LSTMCell(INPUT, HIDDEN, cell_clip=3.0), "bptt"),
        (LSTMCell(INPUT, HIDDEN, fused=False), "steps"),
        (PeepholeLSTMCell(INPUT, HIDDEN), "bptt"),
        (PeepholeLSTMCell(INPUT, HIDDEN, fused=False), "steps"),
        (GRUCell(INPUT, HIDDEN), "kernel"),
        (RNNCell(INPUT, HIDDEN, "relu"), "kernel"),
        (RNNCell(INPUT, HIDDEN, fused=False), "steps"),
    ],
)
def test_sequence_path_follows_the_options(cell, path):
    assert cell.sequence_path == path


@pytest.mark.parametrize(
    ("cell", "kernel_name"),
    [
        (LSTMCell(INPUT, HIDDEN, forget_bias=1.0), "lstm"),
        (GRUCell(INPUT, HIDDEN), "gru"),
        (RNNCell(INPUT, HIDDEN, "tanh"), "rnn_tanh"),
        (RNNCell(INPUT, HIDDEN, "relu"), "rnn_relu"),
    ],
)
def test_kernel_path_calls_the_fused_torch_kernel_with_the_cells_weights(monkeypatch, cell, kernel_name):
    calls = []
    kernel = getattr(torch, kernel_name)

    def spy(inputs, hx, weights, *args):
        calls.append(weights)
        return kernel(inputs, hx, weights, *args)

    monkeypatch.setattr(torch, kernel_name, spy)
    cell.forward_sequence(torch.randn(BATCH, STEPS, INPUT), cell.initial_state(BATCH, torch.device("cpu"), torch.float))
    assert len(calls) == 1
    assert calls[0][0] is cell.weight_ih and calls[0][1] is cell.weight_hh


@pytest.mark.parametrize("cell", [PeepholeLSTMCell(INPUT, HIDDEN), LSTMCell(INPUT, HIDDEN, cell_clip=1.0)])
def test_bptt_path_runs_the_hand_written_backward_and_not_the_kernel(monkeypatch, cell):
    used = []
    monkeypatch.setattr(torch, "lstm", lambda *args: used.append("kernel"))
    monkeypatch.setattr(cells, "lstm_layer", lambda *args: used.append("bptt") or lstm_layer(*args))
    cell.forward_sequence(torch.randn(BATCH, STEPS, INPUT), cell.initial_state(BATCH, torch.device("cpu"), torch.float))
    assert used == ["bptt"]


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
