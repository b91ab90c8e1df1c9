"""Forecasting new data with a finished electricity run: the run's scaler (``use_artifacts``), the forecast
table (``forecast``), ``FinishedRun.predict``, ``seqkit predict``, and the done-when check on the real extract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqkit.inference import load_run
from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.dataset import ElectricityDataset
from seqkit.training import train

from conftest import shared_data, trained

START = pd.Timestamp("2011-01-01 00:15")
STEP = pd.Timedelta("15min")
#: A tiny forecasting run on a synthetic CSV: the electricity preset with a short window and a small LSTM.
TINY_RUN = [
    "+experiment=electricity",
    "dataset.window=8",
    "dataset.time_of_day=sincos",
    "dataset.batch_size=32",
    "cell.hidden_size=4",
    "trainer.max_steps=3",
    "trainer.val_every=3",
    "trainer.progress=false",
    "trainer.device=cpu",
]


def daily_series(days: int = 14) -> np.ndarray:
    """Quarter-hourly load repeating every day (96 rows), with a little noise."""
    rows = np.arange(days * 96)
    values = 100 + 40 * np.sin(2 * np.pi * rows / 96) + 10 * np.cos(6 * np.pi * rows / 96)
    return values + np.random.default_rng(0).normal(0, 2.0, len(rows))


def write_load(path: Path, values: np.ndarray, first_row: int | None = None) -> Path:
    """``values`` (exactly) as a one-column CSV, or with a ``time`` column when ``first_row`` places them."""
    if first_row is None:
        path.write_text("Load\n" + "\n".join(map(repr, values.tolist())) + "\n", encoding="utf-8")
        return path
    times = pd.date_range(START + first_row * STEP, periods=len(values), freq=STEP)
    pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M:%S"), "Load": values}).to_csv(path, index=False)
    return path


def dataset(path: Path, **options) -> ElectricityDataset:
    settings = {"window": 8, "horizon": 1, "batch_size": 16} | options
    return ElectricityDataset(ElectricityConfig(path=str(path), **settings))


class LastValue(nn.Module):
    """A stand-in model that forecasts the window's last (scaled) load value."""

    def forward(self, inputs: torch.Tensor, state=None):
        return inputs[:, -1, :1], state


@pytest.fixture(scope="module")
def load_file(tmp_path_factory) -> Path:
    return write_load(tmp_path_factory.mktemp("data") / "elec_load.csv", daily_series())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, host, load_file) -> Path:
    return trained(tmp_path_factory, host, [*TINY_RUN, f"dataset.path={load_file}"])


# ------------------------------------------------------------------------------------- use_artifacts


def test_the_runs_scaler_replaces_the_one_fitted_on_new_data(tmp_path: Path) -> None:
    values = daily_series()
    run_data = dataset(write_load(tmp_path / "run.csv", values))
    new = dataset(write_load(tmp_path / "new.csv", values[-400:] * 1.5))
    assert new.scaler != run_data.scaler
    new.use_artifacts(run_data.artifacts())
    assert new.scaler == run_data.scaler and new.spec.target_unit_scale == run_data.scaler.scale
    np.testing.assert_array_equal(new.scaled, run_data.scaler.transform(new.series.values))
    batch = next(new.batches("test"))
    starts = new.starts["test"][: len(batch)]
    expected = run_data.scaler.transform(new.series.values)[starts + new.reach]
    np.testing.assert_allclose(batch.targets[:, 0].numpy(), expected, rtol=1e-6)
    inputs = new.scaled[starts[:, None] + np.arange(8)].astype(np.float32)
    np.testing.assert_array_equal(batch.inputs[:, :, 0].numpy(), inputs)
    persistence = new.baseline_forecasts("test")["persistence"]
    np.testing.assert_array_equal(persistence, new.scaled[starts[0] + 7 : starts[0] + 7 + len(persistence)])


def test_the_dataset_with_its_own_artifacts_is_unchanged(tmp_path: Path) -> None:
    data = dataset(write_load(tmp_path / "load.csv", daily_series()), calendar=True)
    before = next(data.batches("test"))
    data.use_artifacts(data.artifacts())
    after = next(data.batches("test"))
    assert torch.equal(before.inputs, after.inputs) and torch.equal(before.targets, after.targets)


def test_a_run_with_another_window_is_refused_naming_it(tmp_path: Path) -> None:
    path = write_load(tmp_path / "load.csv", daily_series())
    run_artifacts = dataset(path, window=12).artifacts()
    with pytest.raises(ValueError) as raised:
        dataset(path, window=8).use_artifacts(run_artifacts)
    assert str(raised.value) == (
        "dataset electricity cannot take this run's transforms: the run's model reads other windows "
        "(window: the run's 12, here 8); set the dataset's options to the run's"
    )


def test_a_run_with_other_calendar_features_is_refused_naming_them(tmp_path: Path) -> None:
    path = write_load(tmp_path / "load.csv", daily_series())
    run_artifacts = dataset(path, calendar=True, time_of_day="onehot").artifacts()
    with pytest.raises(ValueError, match=r"other windows \(features: the run's 104 \[load, slot_0, \.\.\., sunday\]"):
        dataset(path, calendar=True).use_artifacts(run_artifacts)


# ------------------------------------------------------------------------------------------ forecast


def test_the_test_forecasts_are_the_reports_forecast_csv(tmp_path: Path) -> None:
    data = dataset(write_load(tmp_path / "load.csv", daily_series()), calendar=True)
    data.report(LastValue(), tmp_path / "run", "cpu")
    written = pd.read_csv(tmp_path / "run" / "forecast.csv", parse_dates=["time"])
    table = data.forecast(LastValue(), "cpu", split="test")
    assert list(table.columns) == list(written.columns)
    pd.testing.assert_frame_equal(table, written, check_exact=False, rtol=0, atol=1e-4)  # written to 4 decimals


def test_every_window_is_forecast_with_the_unfitted_baselines(tmp_path: Path) -> None:
    values = daily_series()
    data = dataset(write_load(tmp_path / "load.csv", values))
    table = data.forecast(LastValue(), "cpu", split=None)
    assert list(table.columns) == ["time", "row", "truth_kw", "prediction_kw", "persistence_kw", "seasonal_naive_kw"]
    assert table["row"].tolist() == list(range(8, len(values)))
    assert (table["time"] == START + STEP * table["row"]).all()
    np.testing.assert_allclose(table["truth_kw"], values[8:])
    np.testing.assert_allclose(table["prediction_kw"], values[7:-1])  # the last value is persistence
    np.testing.assert_allclose(table["persistence_kw"], values[7:-1])
    seasonal = table["seasonal_naive_kw"].to_numpy()
    assert np.isnan(seasonal[: 96 - 8]).all()  # targets with less than a day before them
    np.testing.assert_allclose(seasonal[96 - 8 :], values[: len(values) - 96])


def test_last_forecasts_one_step_past_the_end_without_truth(tmp_path: Path) -> None:
    values = daily_series()
    data = dataset(write_load(tmp_path / "load.csv", values, first_row=0), horizon=2)
    table = data.forecast(LastValue(), "cpu", last=True)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["time"] == START + STEP * (len(values) - 1) + 2 * STEP  # horizon steps after the last stamp
    assert row["row"] == len(values) + 1 and np.isnan(row["truth_kw"])
    assert row["prediction_kw"] == pytest.approx(values[-1]) and row["persistence_kw"] == pytest.approx(values[-1])
    assert row["seasonal_naive_kw"] == pytest.approx(values[len(values) + 1 - 96])


# ------------------------------------------------------------------------------- a finished run's model


def test_predict_on_new_rows_repeats_the_runs_test_forecasts(tiny_run, load_file, host, tmp_path) -> None:
    run = load_run(tiny_run, device="cpu", registry=host.registry)
    values = daily_series()
    first = len(values) - len(values) // 5
    predicted = run.predict(write_load(tmp_path / "new.csv", values[first:], first_row=first))
    own_data = run.dataset()
    own = own_data.forecast(run.model, run.device, split="test")
    both = own.merge(predicted, on="time", suffixes=("_run", "_new"))
    assert len(both) == len(predicted) == len(values) // 5 - 8
    np.testing.assert_array_equal(both["row_new"] + first, both["row_run"])
    for column in ("truth_kw", "persistence_kw"):
        np.testing.assert_allclose(both[f"{column}_new"], both[f"{column}_run"], rtol=0, atol=1e-6)
    seasonal = both["seasonal_naive_kw_new"].notna()  # the new series' first day has no day before it
    assert seasonal.sum() == len(both) - (96 - 8)
    np.testing.assert_allclose(both["seasonal_naive_kw_new"][seasonal], both["seasonal_naive_kw_run"][seasonal])
    # Bit for bit in the same batches; the run's report batched from its first test window (float32 rounding).
    same_batches = own_data.model_forecasts(run.model, run.device, first + np.arange(len(predicted)))
    np.testing.assert_allclose(predicted["prediction_kw"], own_data.scaler.inverse(same_batches), rtol=0, atol=1e-6)
    np.testing.assert_allclose(both["prediction_kw_new"], both["prediction_kw_run"], rtol=0, atol=1e-4)
    times = pd.date_range(START + first * STEP, periods=len(values) - first, freq=STEP)
    from_series = run.predict(pd.Series(values[first:], index=times))
    pd.testing.assert_frame_equal(from_series, predicted)


def test_predict_last_gives_the_step_after_the_series(tiny_run, host) -> None:
    run = load_run(tiny_run, device="cpu", registry=host.registry)
    values = daily_series()
    table = run.predict(values[-200:], last=True, start="2012-06-01 00:15")
    assert len(table) == 1 and table["time"].iloc[0] == pd.Timestamp("2012-06-01 00:15") + 200 * STEP


def test_seqkit_predict_writes_the_csv_and_leaves_the_run(tiny_run, load_file, tmp_path) -> None:
    summary, forecast = (tiny_run / "summary.json").read_bytes(), (tiny_run / "forecast.csv").read_bytes()
    environment = {**os.environ, "SEQKIT_STRICT_PLUGINS": "1", "HYDRA_FULL_ERROR": "0"}
    command = [sys.executable, "-m", "seqkit", "predict", str(tiny_run), f"dataset.path={load_file}", "device=cpu"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    written = Path(printed["path"])
    assert written.parent == tiny_run / "predict" and written.name.startswith("forecast-")
    assert printed["rows"] == len(daily_series()) - 8 == len(pd.read_csv(written))
    assert (tiny_run / "summary.json").read_bytes() == summary and (tiny_run / "forecast.csv").read_bytes() == forecast
    again = subprocess.run(
        [*command, "last=true", f"out={tiny_run / 'forecast.csv'}"], env=environment, capture_output=True, text=True
    )
    assert again.returncode == 2 and "already exists; seqkit predict overwrites nothing" in again.stderr
    assert (tiny_run / "forecast.csv").read_bytes() == forecast


def files_of(run_dir: Path) -> dict[Path, bytes]:
    return {path.relative_to(run_dir): path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}


def test_too_few_rows_for_one_window_say_how_many_and_leave_the_run(tiny_run, host, tmp_path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("time,Load\n2014-01-01 00:15:00,70.1\n2014-01-01 00:30:00,71.2\n")
    before = files_of(tiny_run)
    run = load_run(tiny_run, device="cpu", registry=host.registry)
    with pytest.raises(ValueError, match="short.csv: 2 rows in column 'Load'; one window of 8 plus horizon 1 needs"):
        run.predict(short)
    assert files_of(tiny_run) == before


# ------------------------------------------------------------------------------ done when: real data


@pytest.mark.skipif(
    shared_data() is None or not (shared_data() / "electricity" / "elec_load.csv").is_file(),
    reason="elec_load.csv is not in the data folder",
)
def test_predict_on_the_last_fifth_of_the_extract_repeats_the_runs_test_forecasts(compose_config, host, tmp_path):
    real = shared_data() / "electricity" / "elec_load.csv"
    overrides = [
        "+experiment=electricity",
        f"dataset.path={real}",
        "trainer.max_steps=3",
        "trainer.val_every=3",
        "trainer.progress=false",
        "trainer.device=cpu",
    ]
    train(compose_config(overrides), host.registry, tmp_path / "run")
    run = load_run(tmp_path / "run", device="cpu", registry=host.registry)
    values = pd.read_csv(real)["Load"].to_numpy(dtype=np.float64)
    first = len(values) - len(values) // 5
    new = write_load(tmp_path / "new.csv", values[first:], first_row=first)

    predicted = run.predict(new)
    own_data = run.dataset()  # the run's own series, split and scaler
    test_times = own_data.series.times[own_data.starts["test"] + own_data.reach]
    # The model's test forecasts as the run's report computed them, in batches from its first test window ...
    reported = own_data.scaler.inverse(own_data.predict(run.model, run.device))
    # ... and on the same windows of the run's own data, in the batches predict used (from the new first window).
    starts = first + np.arange(len(predicted))
    same_batches = own_data.scaler.inverse(own_data.model_forecasts(run.model, run.device, starts))
    csv = pd.read_csv(tmp_path / "run" / "forecast.csv", parse_dates=["time"])
    both = predicted.merge(pd.DataFrame({"time": test_times, "reported_kw": reported}), on="time")
    both = both.merge(csv, on="time", suffixes=("", "_csv"))
    assert len(both) == len(predicted) == len(values) // 5 - 96  # every new window is one of the run's test windows
    assert (own_data.series.times[starts + own_data.reach] == predicted["time"]).all()
    exact = np.abs(predicted["prediction_kw"] - same_batches).max()
    reported_gap = np.abs(both["prediction_kw"] - both["reported_kw"])
    csv_gap = np.abs(both["prediction_kw"] - both["prediction_kw_csv"]).max()
    baseline_gap = max(np.abs(both[f"{name}_kw"] - both[f"{name}_kw_csv"]).max() for name in ("truth", "persistence"))
    print(
        f"\n{len(both)} windows; max |predict - own, same batches| {exact:.3g} kW; max |predict - reported| "
        f"{reported_gap.max():.3g} kW ({int((reported_gap > 1e-6).sum())} windows over 1e-6); "
        f"max |predict - forecast.csv| {csv_gap:.3g} kW; truth and persistence vs forecast.csv {baseline_gap:.3g} kW"
    )
    assert exact <= 1e-6  # the same inputs in the run's scaler: no refitting, no other calendar
    assert reported_gap.max() <= 1e-4  # float32: a window batched with other windows may round its last bit otherwise
    assert csv_gap <= 1e-4 and baseline_gap <= 1e-4  # forecast.csv holds 4 decimals

    last = run.predict(new, last=True)
    assert len(last) == 1 and last["time"].iloc[0] == START + STEP * len(values)
    assert np.isnan(last["truth_kw"].iloc[0])
