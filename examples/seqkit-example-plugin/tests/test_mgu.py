"""The MGU cell honours seqkit's cell contract (seqkit.testing does the checking)."""

import pytest
import torch
from seqkit_example_plugin.mgu import MGUCell, MGUConfig

from seqkit.testing import check_cell


@pytest.mark.parametrize("input_size", [1, 5])
def test_mgu_honours_the_cell_contract(input_size):
    cell = check_cell(MGUCell, MGUConfig(hidden_size=8), input_size=input_size)
    assert cell.hidden_size == 8


def test_mgu_keeps_its_state_when_the_forget_gate_is_shut():
    cell = MGUCell(MGUConfig(hidden_size=4), input_size=2)
    with torch.no_grad():
        cell.bias[:4] = -1e4  # forget gate f = 0: h' = h
    state = (torch.randn(3, 4),)
    h, _ = cell(torch.randn(3, 2), state)
    torch.testing.assert_close(h, state[0])


def test_mgu_rejects_an_empty_hidden_layer():
    with pytest.raises(ValueError, match="cell.hidden_size must be at least 1"):
        MGUCell(MGUConfig(hidden_size=0), input_size=2)
