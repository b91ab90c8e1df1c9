"""The built-in heads: predictions from hidden states, their losses, and metrics that add up over batches."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqkit.components import PADDING_TARGET, DataSpec
from seqkit.plugins.heads import RegressionConfig, RegressionHead, SoftmaxConfig, SoftmaxHead, register_heads

SERIES = DataSpec("real", 1, "real", 1, target_unit="kw", target_unit_scale=10.0)
TEXT = DataSpec("tokens", 5, "tokens", 5, stateful=True, sequence_targets=True)


def test_both_heads_are_registered_through_the_hook():
    registered = []
    register_heads(lambda name, factory, config: registered.append((name, factory, config)))
    assert registered == [("regression", RegressionHead, RegressionConfig), ("softmax", SoftmaxHead, SoftmaxConfig)]


def test_regression_reads_the_last_hidden_state():
    head = RegressionHead(RegressionConfig(), 3, SERIES)
    hidden = torch.randn(4, 6, 3)
    assert torch.allclose(head(hidden), head.linear(hidden[:, -1]))


def test_regression_metrics_in_scaled_and_original_units():
    head = RegressionHead(RegressionConfig(), 3, SERIES)
    predictions = torch.tensor([[0.5], [1.0], [-1.0], [0.0]])
    targets = torch.tensor([[0.0], [1.0], [1.0], [0.5]])
    metrics = head.metrics(head.metric_sums(predictions, targets))
    mse = (0.25 + 0 + 4 + 0.25) / 4
    assert metrics["mse"] == pytest.approx(mse) and metrics["loss"] == pytest.approx(mse)
    assert metrics["rmse"] == pytest.approx(math.sqrt(mse))
    assert metrics["mae"] == pytest.approx((0.5 + 0 + 2 + 0.5) / 4)
    assert metrics["mse_kw"] == pytest.approx(mse * 100)
    assert metrics["rmse_kw"] == pytest.approx(math.sqrt(mse) * 10)
    assert metrics["mae_kw"] == pytest.approx(0.75 * 10)
    assert float(head.loss(predictions, targets)) == pytest.approx(mse)


def test_regression_without_a_unit_reports_only_scaled_metrics():
    head = RegressionHead(RegressionConfig(), 2, DataSpec("real", 1, "real", 1))
    metrics = head.metrics(head.metric_sums(torch.zeros(2, 1), torch.ones(2, 1)))
    assert set(metrics) == {"loss", "mse", "rmse", "mae"}


def test_softmax_metrics_match_cross_entropy_and_sum_over_batches():
    torch.manual_seed(0)
    head = SoftmaxHead(SoftmaxConfig(), 4, TEXT)
    logits = torch.randn(2, 6, 5)
    targets = torch.randint(0, 5, (2, 6))
    whole = head.metrics(head.metric_sums(logits, targets))
    halves = [head.metric_sums(logits[i : i + 1], targets[i : i + 1]) for i in range(2)]
    summed = head.metrics({key: halves[0][key] + halves[1][key] for key in halves[0]})
    expected = float(F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1)))
    assert whole["loss"] == pytest.approx(expected) and summed["loss"] == pytest.approx(expected)
    assert whole["bpc"] == pytest.approx(expected / math.log(2))
    assert whole["perplexity"] == pytest.approx(math.exp(expected))
    assert whole["accuracy"] == pytest.approx(float((logits.argmax(-1) == targets).float().mean()))
    assert float(head.loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


def test_softmax_padding_targets_score_nothing():
    torch.manual_seed(0)
    head = SoftmaxHead(SoftmaxConfig(), 4, TEXT)
    logits = torch.randn(2, 6, 5)
    targets = torch.randint(0, 5, (2, 6))
    padded = targets.clone()
    padded[1, 3:] = PADDING_TARGET
    kept = torch.cat([logits[0], logits[1, :3]]), torch.cat([targets[0], targets[1, :3]])
    expected = head.metrics(head.metric_sums(*kept))
    assert head.metrics(head.metric_sums(logits, padded)) == pytest.approx(expected)
    assert head.metric_sums(logits, padded)["count"] == 9
    assert float(head.loss(logits, padded)) == pytest.approx(expected["loss"], rel=1e-6)


def test_heads_refuse_data_of_the_wrong_kind():
    with pytest.raises(ValueError, match="'softmax' needs token targets"):
        SoftmaxHead(SoftmaxConfig(), 3, SERIES)
    with pytest.raises(ValueError, match="'regression' needs real-valued targets"):
        RegressionHead(RegressionConfig(), 3, TEXT)
