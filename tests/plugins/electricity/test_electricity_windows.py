"""Splits, affine scalers and calendar features for forecasting windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqkit.plugins.electricity.windows import (
    AffineScaler,
    calendar_categories,
    calendar_features,
    fit_scaler,
    split_by_fractions,
    split_by_ranges,
)


@pytest.mark.parametrize("kind", ["standard", "minmax", "fixed"])
def test_scaler_round_trips(kind: str) -> None:
    values = np.array([120.0, 80.0, 200.0, 147.0])
    scaler = fit_scaler(kind, values, offset=147.0, scale=339.0)
    assert scaler.inverse(scaler.transform(values)) == pytest.approx(values)


def test_standard_scaler_centres_and_scales() -> None:
    scaled = fit_scaler("standard", np.array([1.0, 3.0])).transform(np.array([1.0, 3.0]))
    assert scaled.tolist() == [-1.0, 1.0]


def test_minmax_scaler_maps_onto_zero_one() -> None:
    scaler = fit_scaler("minmax", np.array([10.0, 30.0, 20.0]))
    assert scaler.transform(np.array([10.0, 20.0, 30.0])).tolist() == [0.0, 0.5, 1.0]


def test_fixed_scaler_is_the_chapters_formula() -> None:
    assert fit_scaler("fixed", np.zeros(3), offset=147.0, scale=339.0) == AffineScaler("fixed", 147.0, 339.0)


def test_constant_training_values_fail() -> None:
    with pytest.raises(ValueError, match="the training values must vary"):
        fit_scaler("standard", np.ones(5))


def test_calendar_features_use_interval_starts() -> None:
    starts = pd.DatetimeIndex(["2011-01-01 00:00", "2011-01-03 06:00"])  # a Saturday, a Monday
    features, names = calendar_features(starts, "onehot")
    assert names[:2] == ["time_of_day_sin", "time_of_day_cos"]
    assert features[0, :2] == pytest.approx([0.0, 1.0])
    assert features[1, :2] == pytest.approx([1.0, 0.0], abs=1e-12)
    assert features[0, 2:].tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert features[1, 2:].tolist() == [1, 0, 0, 0, 0, 0, 0]


def test_time_of_day_as_one_hot_slots() -> None:
    starts = pd.DatetimeIndex(["2011-01-01 00:00", "2011-01-03 06:15"])
    features, names = calendar_features(starts, "onehot", "onehot", pd.Timedelta("15min"))
    assert names[:2] == ["slot_0", "slot_1"] and len(names) == 96 + 7
    assert features[0, :96].nonzero()[0].tolist() == [0]
    assert features[1, :96].nonzero()[0].tolist() == [25]
    assert features[1, 96:].tolist() == [1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="dataset.time_of_day='hours' is unknown"):
        calendar_features(starts, "onehot", "hours", pd.Timedelta("15min"))


def test_calendar_week_phase_as_sin_cos() -> None:
    features, names = calendar_features(pd.DatetimeIndex(["2011-01-03 00:00"]), "sincos")
    assert names[2:] == ["day_of_week_sin", "day_of_week_cos"]
    assert features[0, 2:] == pytest.approx([0.0, 1.0])


def test_calendar_categories_code_slot_of_day_and_weekday() -> None:
    starts = pd.DatetimeIndex(["2011-01-01 00:00", "2011-01-03 06:15"])
    (slots, slot_levels), (weekdays, weekday_levels) = calendar_categories(starts, pd.Timedelta("15min"))
    assert (slots.tolist(), slot_levels) == ([0, 25], 96)
    assert (weekdays.tolist(), weekday_levels) == ([5, 0], 7)


def test_unknown_day_of_week_encoding_fails() -> None:
    with pytest.raises(ValueError, match="dataset.day_of_week='words' is unknown"):
        calendar_features(pd.DatetimeIndex(["2011-01-01"]), "words")


def test_unknown_scaler_fails() -> None:
    with pytest.raises(ValueError, match="dataset.scaler='robust' is unknown; choose one of standard, minmax, fixed"):
        fit_scaler("robust", np.ones(3))


def test_fractions_cut_rows_and_windows_follow_their_targets() -> None:
    split = split_by_fractions(100, window=4, horizon=2, fractions=[0.6, 0.2, 0.2])
    assert (split.starts["train"][0], split.starts["train"][-1] + 5) == (0, 59)
    assert (split.starts["val"][0] + 5, split.starts["val"][-1] + 5) == (60, 79)
    assert (split.starts["test"][0] + 5, split.starts["test"][-1] + 5) == (80, 99)
    assert split.fit_rows == (0, 60)


def test_fractions_must_be_three_positive_shares_of_one() -> None:
    with pytest.raises(ValueError, match=r"dataset.split=\[0.7, 0.3\] must be three positive fractions"):
        split_by_fractions(100, window=4, horizon=1, fractions=[0.7, 0.3])


def test_fractions_leaving_a_split_empty_fail() -> None:
    with pytest.raises(ValueError, match="leaves no train windows in 20 rows with window 16"):
        split_by_fractions(20, window=16, horizon=1, fractions=[0.7, 0.1, 0.2])


def test_ranges_keep_their_window_indices_and_fit_on_train_rows() -> None:
    ranges = {"train": [10, 20], "val": [30, 40], "test": [20, 30]}
    split = split_by_ranges(100, window=5, horizon=2, ranges=ranges)
    assert split.starts["val"].tolist() == list(range(30, 40))
    assert split.fit_rows == (10, 26)


def test_ranges_past_the_last_window_fail() -> None:
    ranges = {"train": [0, 10], "val": [10, 20], "test": [20, 95]}
    with pytest.raises(ValueError, match=r"dataset.test_range=\[20, 95\] must be .* stop <= 94"):
        split_by_ranges(100, window=5, horizon=2, ranges=ranges)
