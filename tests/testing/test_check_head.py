"""seqkit.testing.check_head passes the built-in heads and fails broken ones, naming the fault."""

from __future__ import annotations

import pytest

from seqkit.components import DataSpec
from seqkit.plugins.heads import RegressionConfig, RegressionHead, SoftmaxConfig, SoftmaxHead
from seqkit.testing import check_head

REAL = DataSpec("real", 3, "real", 2)
TOKENS = DataSpec("tokens", 5, "tokens", 5, stateful=True, sequence_targets=True)


def test_check_head_accepts_the_regression_head():
    assert check_head(RegressionHead, RegressionConfig(), REAL).main_metric == "mse"


def test_check_head_accepts_the_softmax_head():
    assert check_head(SoftmaxHead, SoftmaxConfig(), TOKENS).main_metric == "loss"


def test_check_head_catches_metric_sums_that_are_means():
    class Averaging(RegressionHead):
        def metric_sums(self, predictions, targets):
            sums = super().metric_sums(predictions, targets)
            return {**sums, "squared_error": sums["squared_error"] / sums["count"]}

    with pytest.raises(AssertionError, match="metric_sums is not additive: 'squared_error'"):
        check_head(Averaging, RegressionConfig(), REAL)


def test_check_head_catches_upper_case_metric_names():
    class Shouting(RegressionHead):
        def metrics(self, sums):
            return {**super().metrics(sums), "MSE": 0.0}

    with pytest.raises(AssertionError, match="metric name 'MSE' is not lower case"):
        check_head(Shouting, RegressionConfig(), REAL)


def test_check_head_catches_a_loss_without_gradient():
    class Detached(RegressionHead):
        def loss(self, predictions, targets):
            return super().loss(predictions.detach(), targets)

    with pytest.raises(AssertionError, match="loss has no gradient"):
        check_head(Detached, RegressionConfig(), REAL)


def test_check_head_catches_a_head_that_scores_padding():
    class CountsPadding(SoftmaxHead):
        def metric_sums(self, predictions, targets):
            sums = super().metric_sums(predictions, targets)
            return {**sums, "count": float(targets.numel())}

    with pytest.raises(AssertionError, match="metric_sums counts padding: 'count'"):
        check_head(CountsPadding, SoftmaxConfig(), TOKENS)
