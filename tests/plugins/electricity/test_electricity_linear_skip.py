"""The linear skip: a linear map of the last steps added to the forecast, and its least-squares start."""

from __future__ import annotations

import pytest
import torch

from seqkit.components import Batch, DataSpec
from seqkit.model import ModelConfig, SequenceModel
from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.linear_skip import LinearSkip, build_linear_skip
from seqkit.plugins.heads import RegressionConfig, RegressionHead

from toy_plugin import ToyCell, ToyCellConfig

REAL = DataSpec("real", 3, "real", 1)
TOKENS = DataSpec("tokens", 7, "tokens", 7, stateful=True, sequence_targets=True)


def model_with(extension: LinearSkip) -> SequenceModel:
    head = lambda width: RegressionHead(RegressionConfig(), width, REAL)  # noqa: E731
    layer = lambda input_size: ToyCell(ToyCellConfig(hidden_size=6), input_size)  # noqa: E731
    return SequenceModel(REAL, layer, head, ModelConfig(), 6, lambda: extension)


def test_the_skip_adds_a_linear_map_of_the_last_steps_to_the_forecast():
    torch.manual_seed(0)
    skip = LinearSkip(2, REAL)
    model = model_with(skip)
    inputs = torch.randn(4, 5, 3)
    hidden, _ = model.recurrent(inputs)
    expected = model.head(hidden) + skip.linear(inputs[:, -2:].reshape(4, 6))
    assert torch.allclose(model(inputs)[0], expected, atol=1e-6)


def test_the_skip_is_refused_for_token_data_and_too_short_windows():
    with pytest.raises(ValueError, match="dataset.linear_skip needs real-valued inputs"):
        LinearSkip(2, TOKENS)
    with pytest.raises(ValueError, match="exceeds the 2 input steps"):
        LinearSkip(3, REAL)(torch.randn(1, 2, 3))


def test_least_squares_start_recovers_a_linear_rule():
    torch.manual_seed(0)
    skip = LinearSkip(2, REAL, init="least_squares")
    inputs = torch.randn(200, 4, 3)
    rule = torch.tensor([0.5, -1.0, 2.0, 0.25, 0.0, 1.5])
    targets = (inputs[:, -2:].reshape(200, 6) @ rule + 0.3)[:, None]
    skip.fit([Batch(inputs[:100], targets[:100]), Batch(inputs[100:], targets[100:])])
    assert torch.allclose(skip.linear.weight[0], rule, atol=1e-3)
    assert skip.linear.bias.item() == pytest.approx(0.3, abs=1e-3)


def test_a_random_start_is_left_as_drawn_by_fit():
    torch.manual_seed(0)
    skip = LinearSkip(1, REAL)
    before = skip.linear.weight.clone()
    skip.fit([Batch(torch.randn(8, 4, 3), torch.randn(8, 1))])
    assert torch.equal(skip.linear.weight, before)


def test_the_plugin_builds_a_skip_only_when_asked():
    assert build_linear_skip(ElectricityConfig(), REAL) is None
    skip = build_linear_skip(ElectricityConfig(linear_skip=2, linear_skip_init="least_squares"), REAL)
    assert (skip.steps, skip.init, skip.linear.in_features) == (2, "least_squares", 6)
    with pytest.raises(ValueError, match="dataset.linear_skip_init must be one of random, least_squares"):
        build_linear_skip(ElectricityConfig(linear_skip=1, linear_skip_init="lsq"), REAL)
