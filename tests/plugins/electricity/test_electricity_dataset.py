"""The electricity dataset: windows, splits, scaling, calendar, batches, downloads, report and real figures."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import pytest
import torch
from torch import nn

from seqkit import datafiles
from seqkit.components import Dataset
from seqkit.host import load_host
from seqkit.plugins.electricity import build_electricity_dataset
from seqkit.plugins.electricity.baselines import error_metrics
from seqkit.plugins.electricity.config import ElectricityConfig
from seqkit.plugins.electricity.dataset import EXTRACT_SHA256, EXTRACT_URL, UCI_ZIP_SHA256, ElectricityDataset
from seqkit.plugins.electricity.series import DataFormatError

SHARED_DATA = Path(os.environ.get("SEQKIT_DATA") or Path(__file__).resolve().parents[3] / ".." / "shared" / "data")
REAL_EXTRACT = SHARED_DATA / "electricity" / "elec_load.csv"
needs_real_extract = pytest.mark.skipif(not REAL_EXTRACT.is_file(), reason="elec_load.csv is not in the data folder")


def write_extract(path: Path, values: np.ndarray) -> Path:
    path.write_text("Load\n" + "\n".join(f"{value:.6f}" for value in values) + "\n", encoding="utf-8")
    return path


def daily_series(days: int = 14, noise: float = 0.0) -> np.ndarray:
    """Quarter-hourly load repeating every day (96 rows), optionally with noise."""
    rows = np.arange(days * 96)
    values = 100 + 40 * np.sin(2 * np.pi * rows / 96) + 10 * np.cos(6 * np.pi * rows / 96)
    return values + np.random.default_rng(0).normal(0, noise, len(rows))


def dataset(tmp_path: Path, values: np.ndarray | None = None, **options) -> ElectricityDataset:
    path = write_extract(tmp_path / "elec_load.csv", daily_series() if values is None else values)
    settings = {"window": 8, "horizon": 1, "batch_size": 16, "calendar": False} | options
    return ElectricityDataset(ElectricityConfig(path=str(path), **settings))


class LastValue(nn.Module):
    """A stand-in model that forecasts the window's last load value."""

    def forward(self, inputs: torch.Tensor, state=None):
        return inputs[:, -1, :1], state


# ----------------------------------------------------------------------------------------- contract


def test_registers_through_the_dataset_hook() -> None:
    host = load_host(builtins=("seqkit.plugins.electricity",), strict=True)
    component = host.registry.get("dataset", "electricity")
    assert component.factory is build_electricity_dataset
    assert component.config_class is ElectricityConfig


def test_the_registered_factory_builds_the_dataset(tmp_path: Path) -> None:
    path = write_extract(tmp_path / "elec_load.csv", daily_series())
    assert isinstance(build_electricity_dataset(ElectricityConfig(path=str(path), window=8)), ElectricityDataset)


def test_spec_describes_real_windows_with_calendar_features(tmp_path: Path) -> None:
    data = dataset(tmp_path, calendar=True)
    assert isinstance(data, Dataset)
    assert (data.spec.input_kind, data.spec.input_size, data.spec.target_kind, data.spec.target_size) == (
        "real",
        10,
        "real",
        1,
    )
    assert (data.spec.stateful, data.spec.sequence_targets, data.spec.target_unit) == (False, False, "kw")
    assert data.spec.target_unit_scale == pytest.approx(data.scaler.scale)
    assert data.vocabulary is None


def test_batches_have_the_documented_shapes_and_dtypes(tmp_path: Path) -> None:
    batch = next(dataset(tmp_path, calendar=True).batches("train"))
    assert batch.inputs.shape == (16, 8, 10) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (16, 1) and batch.targets.dtype == torch.float32


def test_artifacts_are_plain_data_with_the_scaler(tmp_path: Path) -> None:
    artifacts = dataset(tmp_path, scaler="fixed", offset=147.0, scale=339.0).artifacts()
    assert artifacts["scaler"] == {"kind": "fixed", "offset": 147.0, "scale": 339.0}
    assert (artifacts["column"], artifacts["window"], artifacts["horizon"]) == ("Load", 8, 1)
    assert artifacts["features"] == ["load"]


# -------------------------------------------------------------------------------- windows and splits


def test_window_and_horizon_index_like_the_chapter(tmp_path: Path) -> None:
    raw = np.arange(200, dtype=np.float64)
    data = dataset(tmp_path, raw, window=5, horizon=2, scaler="fixed", shuffle=False, split=[0.8, 0.1, 0.1])
    batch = next(data.batches("train"))
    for i in range(len(batch)):  # the chapter: X = a[i:i+5], y = a[i+6]
        assert batch.inputs[i, :, 0].tolist() == raw[i : i + 5].tolist()
        assert batch.targets[i, 0].item() == raw[i + 6]


def test_horizon_one_targets_the_value_right_after_the_window(tmp_path: Path) -> None:
    raw = np.arange(100, dtype=np.float64)
    batch = next(dataset(tmp_path, raw, window=4, horizon=1, scaler="fixed", shuffle=False).batches("train"))
    assert batch.inputs[3, :, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert batch.targets[3, 0].item() == 7.0


def test_fraction_split_is_chronological_by_target_row(tmp_path: Path) -> None:
    data = dataset(tmp_path, np.arange(1000, dtype=np.float64), window=8, horizon=2)
    targets = {split: data.starts[split] + data.reach for split in ("train", "val", "test")}
    assert (targets["train"][0], targets["train"][-1]) == (9, 699)
    assert (targets["val"][0], targets["val"][-1]) == (700, 799)
    assert (targets["test"][0], targets["test"][-1]) == (800, 999)


def test_explicit_ranges_are_window_indices(tmp_path: Path) -> None:
    ranges = {"train_range": [0, 600], "test_range": [600, 700], "val_range": [700, 800]}
    data = dataset(tmp_path, np.arange(1000, dtype=np.float64), window=5, horizon=2, **ranges)
    assert data.starts["test"].tolist() == list(range(600, 700))
    assert data.starts["val"].tolist() == list(range(700, 800))
    assert data.fit_rows == (0, 606)  # rows read by train windows, up to the last one's target


def test_overlapping_ranges_fail(tmp_path: Path) -> None:
    ranges = {"train_range": [0, 600], "val_range": [550, 700], "test_range": [700, 800]}
    with pytest.raises(ValueError, match="dataset.train_range and dataset.val_range overlap"):
        dataset(tmp_path, np.arange(1000, dtype=np.float64), **ranges)


def test_partial_ranges_fail(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"dataset.val_range=None must be \[start, stop\) window indices"):
        dataset(tmp_path, np.arange(1000, dtype=np.float64), train_range=[0, 600], test_range=[600, 700])


def test_fewer_rows_than_a_window_and_horizon_fail_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"elec_load\.csv: 6 rows in column 'Load'.*needs at least 7 rows"):
        dataset(tmp_path, np.arange(6.0), window=5, horizon=2)


# ----------------------------------------------------------------------------------------- scaling


def test_scaler_is_fitted_on_training_rows_only(tmp_path: Path) -> None:
    raw = np.concatenate([np.full(700, 10.0), np.full(300, 1000.0)])
    raw[:700:2] = 30.0  # training rows: mean 20, std 10
    data = dataset(tmp_path, raw)
    assert (data.scaler.offset, data.scaler.scale) == pytest.approx((20.0, 10.0))


# ---------------------------------------------------------------------------- calendar and resampling


def test_calendar_inputs_follow_the_load_in_each_step(tmp_path: Path) -> None:
    data = dataset(tmp_path, calendar=True, shuffle=False)
    first = next(data.batches("train")).inputs[0]
    assert first[0, 1:3].tolist() == pytest.approx([0.0, 1.0])  # 2011-01-01 00:00, midnight
    assert first[0, 3:].tolist() == [0, 0, 0, 0, 0, 1, 0]  # Saturday


def test_resampling_makes_hourly_windows_and_a_daily_season(tmp_path: Path) -> None:
    data = dataset(tmp_path, resample="1h", window=24)
    assert len(data.series) == 14 * 24
    assert data.season == 24
    assert data.series.values[0] == pytest.approx(np.mean(daily_series()[:4]))


# ------------------------------------------------------------------------------------------ batches


def test_training_batches_repeat_for_the_same_epoch(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    first = [batch.targets for batch in data.batches("train", epoch=3)]
    again = [batch.targets for batch in data.batches("train", epoch=3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_training_order_changes_between_epochs(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    assert not np.array_equal(data.window_starts("train", epoch=0), data.window_starts("train", epoch=1))


def test_evaluation_windows_stay_in_time_order(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    assert data.window_starts("test", epoch=5).tolist() == data.starts["test"].tolist()


def test_num_batches_counts_the_batches(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    for split in ("train", "val", "test"):
        assert data.num_batches(split) == sum(1 for _ in data.batches(split))


def test_shards_are_disjoint_and_equal_for_training(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    shards = [data.window_starts("train", epoch=2, shard=(rank, 3)) for rank in range(3)]
    assert len({len(shard) for shard in shards}) == 1
    together = np.concatenate(shards)
    assert len(np.unique(together)) == len(together) > len(data.starts["train"]) - 3


def test_shards_deal_out_every_test_window(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    shards = [data.window_starts("test", shard=(rank, 4)) for rank in range(4)]
    assert sorted(np.concatenate(shards).tolist()) == data.starts["test"].tolist()


def test_max_windows_per_epoch_draws_a_fresh_subset_each_epoch(tmp_path: Path) -> None:
    data = dataset(tmp_path, max_windows_per_epoch=50)
    first, second = data.window_starts("train", epoch=0), data.window_starts("train", epoch=1)
    assert len(first) == len(second) == 50
    assert set(first) != set(second)
    assert data.num_batches("train") == 4


# --------------------------------------------------------------------------------------- downloads


def fake_retrieve(source: Path, calls: list[dict]):
    """A stand-in for pooch.retrieve that copies ``source`` instead of downloading (and runs the processor)."""

    def retrieve(url, known_hash, fname, path, processor=None, progressbar=False):
        calls.append({"url": url, "known_hash": known_hash})
        target = Path(path) / fname
        shutil.copy(source, target)
        return processor(str(target), "download", None) if processor else str(target)

    return retrieve


def test_extract_is_downloaded_into_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_extract(tmp_path / "origin.csv", daily_series())
    calls: list[dict] = []
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve(source, calls))
    data = ElectricityDataset(ElectricityConfig(window=8, calendar=False))
    assert calls == [{"url": EXTRACT_URL, "known_hash": f"sha256:{EXTRACT_SHA256}"}]
    assert data.series.path == tmp_path / "cache" / "electricity" / "elec_load.csv"


def test_uci_member_is_unzipped_and_the_client_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    times = pd.date_range("2011-01-01 00:15", periods=20 * 96, freq="15min")
    lines = ['"";"MT_001";"MT_002"'] + [f'"{t:%Y-%m-%d %H:%M:%S}";1,5;{row % 9},25' for row, t in enumerate(times)]
    archive = tmp_path / "electricityloaddiagrams20112014.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("LD2011_2014.txt", "\n".join(lines) + "\n")
    calls: list[dict] = []
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve(archive, calls))
    data = ElectricityDataset(ElectricityConfig(source="uci", client="MT_002", window=8))
    assert calls[0]["known_hash"] == f"sha256:{UCI_ZIP_SHA256}"
    assert data.series.path == tmp_path / "cache" / "electricity" / "LD2011_2014.txt"
    assert data.series.values[:3].tolist() == [0.25, 1.25, 2.25]


def test_offline_download_fails_with_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(datafiles.DataNotFoundError, match=r"elec_load\.csv is not in the data directory") as error:
        ElectricityDataset(ElectricityConfig())
    assert "could not be downloaded" in str(error.value) and "dataset.path=" in str(error.value)


def test_a_given_path_is_never_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(pooch, "retrieve", no_download)
    assert len(dataset(tmp_path).series) == 14 * 96


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(datafiles.DataNotFoundError, match=r"dataset.path='.*gone\.csv': no such file"):
        ElectricityDataset(ElectricityConfig(path=str(tmp_path / "gone.csv")))


def test_a_directory_given_as_the_path_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "elec_load.csv").write_text("Load\n1\n")
    with pytest.raises(datafiles.DataNotFoundError, match="is a directory .*set dataset.path to the file itself"):
        ElectricityDataset(ElectricityConfig(path=str(tmp_path)))


def test_csv_source_needs_a_path() -> None:
    with pytest.raises(ValueError, match="dataset.source=csv reads a local file: set dataset.path"):
        ElectricityDataset(ElectricityConfig(source="csv"))


def test_unknown_source_fails() -> None:
    with pytest.raises(ValueError, match="dataset.source='ftp' is unknown; choose one of extract, uci, csv"):
        ElectricityDataset(ElectricityConfig(source="ftp"))


def test_generic_csv_with_path_and_column(tmp_path: Path) -> None:
    times = pd.date_range("2020-01-01 00:30", periods=10 * 48, freq="30min")
    frame = pd.DataFrame({"stamp": times.strftime("%Y-%m-%d %H:%M:%S"), "kw": np.arange(480.0), "x": 0})
    frame.to_csv(tmp_path / "meter.csv", index=False)
    config = ElectricityConfig(source="csv", path=str(tmp_path / "meter.csv"), column="kw", time_column="stamp")
    data = ElectricityDataset(config)
    assert (data.series.step, data.season) == (pd.Timedelta("30min"), 48)
    assert data.artifacts()["column"] == "kw"


# ------------------------------------------------------------------------------- baselines, report


def test_seasonal_naive_is_exact_on_a_daily_periodic_series(tmp_path: Path) -> None:
    data = dataset(tmp_path)
    truth = data.scaled[data.starts["test"] + data.reach]
    forecasts = data.baseline_forecasts("test")
    assert error_metrics(forecasts["seasonal_naive"], truth, 1.0)["mse"] == pytest.approx(0.0, abs=1e-20)


def test_linear_ar_uses_calendar_slots_when_calendar_is_on(tmp_path: Path) -> None:
    data = dataset(tmp_path, daily_series(noise=0.5), window=2, calendar=True)
    truth = data.scaled[data.starts["test"] + data.reach]
    plain = dataset(tmp_path, daily_series(noise=0.5), window=2, calendar=False)
    with_calendar = error_metrics(data.baseline_forecasts()["linear_ar"], truth, 1.0)["mse"]
    without = error_metrics(plain.baseline_forecasts()["linear_ar"], truth, 1.0)["mse"]
    assert with_calendar < 0.5 * without


def test_report_writes_forecasts_and_baselines(tmp_path: Path) -> None:
    data = dataset(tmp_path, daily_series(noise=1.0))
    result = data.report(LastValue(), tmp_path / "run", torch.device("cpu"))
    table = pd.read_csv(tmp_path / "run" / "forecast.csv")
    assert len(table) == result["data"]["test_windows"] == len(data.starts["test"])
    assert table["prediction_kw"].to_numpy() == pytest.approx(table["persistence_kw"].to_numpy(), abs=1e-3)
    assert table["truth_kw"].to_numpy() == pytest.approx(data.series.values[table["row"]])
    assert (tmp_path / "run" / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert set(result["baselines"]) == {"persistence", "seasonal_naive", "linear_ar"}
    assert set(result["baselines"]["persistence"]) == {"mse", "rmse", "mae", "mse_kw", "rmse_kw", "mae_kw"}


def test_report_baseline_matches_the_model_scored_on_the_same_windows(tmp_path: Path) -> None:
    data = dataset(tmp_path, daily_series(noise=1.0))
    result = data.report(LastValue(), tmp_path, torch.device("cpu"))
    predictions = np.concatenate([LastValue()(b.inputs)[0][:, 0].numpy() for b in data.batches("test")])
    targets = np.concatenate([b.targets[:, 0].numpy() for b in data.batches("test")])
    assert result["baselines"]["persistence"]["mse"] == pytest.approx(float(np.mean((predictions - targets) ** 2)))


def test_report_counts_test_windows_touching_an_all_zero_day(tmp_path: Path) -> None:
    raw = daily_series(days=20)
    raw[18 * 96 : 19 * 96] = 0.0  # day 19 (2011-01-19) is an outage, inside the test part
    data = dataset(tmp_path, raw, window=8, horizon=1)
    summary = data.data_summary()
    assert summary["test_windows_touching_zero_days"] == 96 + 8
    assert summary["test_zero_days"] == ["2011-01-19"]


# ------------------------------------------------------------------------------------- real file


@needs_real_extract
def test_chapter_setup_baselines_on_the_real_extract() -> None:
    config = ElectricityConfig(
        path=str(REAL_EXTRACT),
        **{"scaler": "fixed", "offset": 147.0, "scale": 339.0, "window": 5, "horizon": 2, "calendar": False},
        **{"train_range": [0, 12000], "test_range": [12000, 13000], "val_range": [13000, 14000]},
    )
    data = ElectricityDataset(config)
    truth = data.scaled[data.starts["test"] + data.reach]
    mse = {name: error_metrics(f, truth, 1.0)["mse"] for name, f in data.baseline_forecasts().items()}
    assert mse == pytest.approx({"persistence": 0.001039, "seasonal_naive": 0.000786, "linear_ar": 0.000991}, rel=2e-3)


@needs_real_extract
def test_default_setup_baselines_on_the_real_extract() -> None:
    data = ElectricityDataset(ElectricityConfig(path=str(REAL_EXTRACT)))
    truth = data.scaled[data.starts["test"] + data.reach]
    mse = {name: error_metrics(f, truth, 1.0)["mse"] for name, f in data.baseline_forecasts().items()}
    assert mse == pytest.approx({"persistence": 0.0798, "seasonal_naive": 0.271, "linear_ar": 0.0448}, rel=0.02)
    assert data.scaler.scale**2 == pytest.approx(2374, rel=1e-3)
    summary = data.data_summary()
    assert (summary["test_windows"], summary["test_windows_touching_zero_days"]) == (28052, 192)
    assert summary["test_zero_days"] == ["2014-12-02"]


def test_the_dataset_names_the_file_it_read(tmp_path: Path) -> None:
    assert dataset(tmp_path).data_files() == [(tmp_path / "elec_load.csv").resolve()]
