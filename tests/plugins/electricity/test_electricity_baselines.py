"""Baseline forecasts on series whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from seqkit.plugins.electricity import baselines as forecast_baselines
from seqkit.plugins.electricity.baselines import (
    LinearAutoregression,
    error_metrics,
    persistence,
    seasonal_naive,
    target_rows,
)


def test_target_row_follows_the_window_by_the_horizon() -> None:
    assert target_rows(np.array([0, 10]), window=5, horizon=2).tolist() == [6, 16]


def test_error_metrics_in_scaled_and_original_units() -> None:
    metrics = error_metrics(np.array([1.0, 2.0]), np.array([0.0, 4.0]), unit_scale=10.0)
    assert metrics["mse"] == pytest.approx(2.5)
    assert metrics["rmse"] == pytest.approx(2.5**0.5)
    assert metrics["mae"] == pytest.approx(1.5)
    assert metrics["mse_kw"] == pytest.approx(250.0)
    assert metrics["rmse_kw"] == pytest.approx(10 * 2.5**0.5)
    assert metrics["mae_kw"] == pytest.approx(15.0)


def test_persistence_is_the_last_value_of_each_window() -> None:
    values = np.arange(20.0)
    assert persistence(values, np.array([0, 3]), window=5).tolist() == [4.0, 7.0]


def test_seasonal_naive_is_exact_on_a_periodic_series() -> None:
    values = np.tile(np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0]), 10)
    starts = np.arange(6, 50)
    forecast = seasonal_naive(values, starts, window=3, horizon=2, season=6)
    truth = values[target_rows(starts, 3, 2)]
    assert error_metrics(forecast, truth, 1.0)["mse"] == 0.0


def test_seasonal_naive_refuses_targets_without_a_season_of_history() -> None:
    with pytest.raises(ValueError, match="needs 10 rows before each target"):
        seasonal_naive(np.arange(30.0), np.array([0, 1]), window=3, horizon=1, season=10)


def test_linear_ar_recovers_an_autoregressive_process() -> None:
    generator = np.random.default_rng(0)
    values = np.zeros(3000)
    for row in range(2, len(values)):
        values[row] = 0.6 * values[row - 1] - 0.3 * values[row - 2] + 0.2 + generator.normal(0, 0.1)
    model = LinearAutoregression(values, window=2, horizon=1).fit(np.arange(0, 2000))
    assert model.weights[:3] == pytest.approx([-0.3, 0.6, 0.2], abs=0.03)


def test_linear_ar_matches_plain_least_squares_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forecast_baselines, "CHUNK_ROWS", 64)
    values = np.random.default_rng(1).normal(size=1000).cumsum()
    starts = np.arange(0, 900)
    model = LinearAutoregression(values, window=4, horizon=3).fit(starts)
    design = np.column_stack([values[starts[:, None] + np.arange(4)], np.ones(len(starts))])
    expected, *_ = np.linalg.lstsq(design, values[starts + 6], rcond=None)
    assert model.weights == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_linear_ar_learns_a_pattern_by_calendar_slot() -> None:
    slots = np.arange(400) % 4
    values = np.array([0.0, 5.0, -2.0, 1.0])[slots]
    starts = np.arange(0, 300)
    model = LinearAutoregression(values, window=1, horizon=1, categories=[(slots, 4)]).fit(starts)
    test_starts = np.arange(300, 398)
    assert model.predict(test_starts) == pytest.approx(values[test_starts + 1], abs=1e-6)


def test_linear_ar_needs_more_windows_than_weights() -> None:
    with pytest.raises(ValueError, match="6 weights but only 3 training windows"):
        LinearAutoregression(np.arange(20.0), window=5, horizon=1).fit(np.arange(3))


def test_linear_ar_predict_before_fit_fails() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        LinearAutoregression(np.arange(20.0), window=5, horizon=1).predict(np.arange(3))
