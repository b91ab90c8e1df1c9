"""The built-in cells: registration, options, parameters and which path a whole sequence takes."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

import seqkit.plugins.cells as cells
from seqkit.plugins.cells.bptt import lstm_layer
from seqkit.plugins.cells.configs import GRUConfig, LSTMConfig, PeepholeConfig, RNNConfig
from seqkit.plugins.cells.gru import GRUCell, make_gru
from seqkit.plugins.cells.lstm import LSTMCell, PeepholeLSTMCell, make_lstm, make_peephole
from seqkit.plugins.cells.rnn import RNNCell, make_rnn

from cell_helpers import BATCH, HIDDEN, INPUT, NAMES, STEPS

pytestmark = pytest.mark.usefixtures("one_thread")


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
    monkeypatch.setattr("seqkit.plugins.cells.lstm.lstm_layer", lambda *args: used.append("bptt") or lstm_layer(*args))
    cell.forward_sequence(torch.randn(BATCH, STEPS, INPUT), cell.initial_state(BATCH, torch.device("cpu"), torch.float))
    assert used == ["bptt"]
