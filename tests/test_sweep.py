"""Sweeps: the results table kept by seqkit.sweep, failed jobs, and the launchers, end to end."""

from __future__ import annotations

import atexit
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from seqkit.sweep import PLOT_NAME, TABLE_NAME, SweepResults

needs_example_plugin = pytest.mark.skipif(
    importlib.util.find_spec("seqkit_example_plugin") is None,
    reason="the example plugin is not installed (pip install -e examples/seqkit-example-plugin)",
)
needs_joblib_launcher = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None,
    reason='the joblib launcher is not installed (pip install "seqkit[sweep]")',
)

#: Four tiny jobs of the example plugin's experiment: two cells x two learning rates.
FOUR_JOBS = [
    "+experiment=example_mgu",
    "cell=lstm,gru",
    "optimizer.lr=0.01,0.02",
    "trainer.max_steps=4",
    "trainer.val_every=4",
    "trainer.progress=false",
    "trainer.device=cpu",
    "hydra.sweep.dir=sweep",
]


def read_table(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / TABLE_NAME).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def seqkit_sweep(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SEQKIT_STRICT_PLUGINS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "seqkit", "-m", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


# -- the callback, in process ------------------------------------------------------------------------


def job_config(sweep_dir: Path, job: int, overrides: list[str]):
    """The parts of a job's composed config the callback reads."""
    return OmegaConf.create(
        {
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "sweep": {"dir": str(sweep_dir)},
                "job": {"num": job},
                "overrides": {"task": overrides},
                "runtime": {"output_dir": str(sweep_dir / str(job))},
            }
        }
    )


def finished(overrides: list[str], value=None, error: Exception | None = None) -> JobReturn:
    job_return = JobReturn(overrides=overrides, status=JobStatus.FAILED if error else JobStatus.COMPLETED)
    job_return.return_value = error if error else value
    return job_return


def write_summary(job_dir: Path, val_mse: float) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "status": "completed",
        "steps": 4,
        "wall_time_s": 1.5,
        "params": 321,
        "metrics": {"val": {"loss": val_mse, "mse": val_mse}, "test": {"loss": 0.5, "mse": 0.5, "mse_kw": 2.0}},
    }
    (job_dir / "summary.json").write_text(json.dumps(summary))


def run_job(callback: SweepResults, sweep_dir: Path, job: int, overrides: list[str], **outcome) -> None:
    config = job_config(sweep_dir, job, overrides)
    callback.on_job_start(config=config, task_function=None)
    if outcome.get("value") is not None:
        write_summary(sweep_dir / str(job), outcome["value"])
    callback.on_job_end(config=config, job_return=finished(overrides, **outcome))


@pytest.fixture
def start_sweep(tmp_path):
    """``start_sweep()``: a callback whose sweep into ``tmp_path`` has started; its exit hook removed after."""
    started = []

    def start() -> SweepResults:
        callback = SweepResults(plot=False)
        callback.on_multirun_start(config=job_config(tmp_path, 0, []))
        started.append(callback)
        return callback

    yield start
    for callback in started:
        atexit.unregister(callback.finish_interrupted)


def test_table_has_a_column_per_overridden_key_and_flattened_metrics(tmp_path, start_sweep):
    callback = start_sweep()
    run_job(callback, tmp_path, 0, ["cell=lstm", "optimizer.lr=0.01"], value=0.25)
    (row,) = read_table(tmp_path)
    assert row["cell"] == "lstm" and row["optimizer.lr"] == "0.01"
    assert row["overrides"] == "cell=lstm optimizer.lr=0.01"
    assert (row["status"], float(row["objective"]), float(row["val_mse"])) == ("ok", 0.25, 0.25)
    assert float(row["test_mse_kw"]) == 2.0
    assert (row["params"], row["steps"], row["wall_time_s"], row["job_dir"]) == ("321", "4", "1.5", "0")


def test_failed_job_is_reported_on_stderr_when_it_ends(tmp_path, capsys, start_sweep):
    callback = start_sweep()
    run_job(callback, tmp_path, 3, ["model.dropout=1.5"], error=ValueError("model.dropout must be in [0, 1)\nmore"))
    line = capsys.readouterr().err.strip()
    assert line.startswith(
        "seqkit: sweep job 3 failed: ValueError: model.dropout must be in [0, 1) [model.dropout=1.5]"
    )
    (row,) = read_table(tmp_path)
    assert (row["status"], row["error"], row["objective"]) == (
        "failed",
        "ValueError: model.dropout must be in [0, 1)",
        "",
    )


def test_sweep_with_a_failed_job_exits_1_after_writing_the_table(tmp_path, start_sweep):
    callback, sweep = start_sweep(), job_config(tmp_path, 0, [])
    run_job(callback, tmp_path, 0, ["cell=lstm"], value=0.25)
    run_job(callback, tmp_path, 1, ["cell=gru"], error=RuntimeError("diverged"))
    with pytest.raises(SystemExit) as stop:
        callback.on_multirun_end(config=sweep)
    assert stop.value.code == 1
    assert [row["status"] for row in read_table(tmp_path)] == ["ok", "failed"]


def test_sweep_whose_jobs_all_succeed_ends_normally(tmp_path, start_sweep):
    callback, sweep = start_sweep(), job_config(tmp_path, 0, [])
    run_job(callback, tmp_path, 0, ["cell=lstm"], value=0.25)
    callback.on_multirun_end(config=sweep)
    assert [row["status"] for row in read_table(tmp_path)] == ["ok"]


def test_interrupted_sweep_closes_its_table_on_the_way_out(tmp_path, start_sweep):
    callback = start_sweep()
    callback.on_job_start(config=job_config(tmp_path, 0, ["cell=lstm"]), task_function=None)
    callback.on_job_start(config=job_config(tmp_path, 1, ["cell=gru"]), task_function=None)
    assert [row["status"] for row in read_table(tmp_path)] == ["running", "running"]
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "summary.json").write_text(json.dumps({"status": "stopped", "error": "SIGINT received"}))
    callback.finish_interrupted()
    assert [row["status"] for row in read_table(tmp_path)] == ["unfinished", "stopped"]


def test_records_left_by_an_earlier_sweep_in_the_same_directory_are_ignored(tmp_path, start_sweep):
    earlier = start_sweep()
    run_job(earlier, tmp_path, 0, ["cell=lstm"], value=0.5)
    run_job(earlier, tmp_path, 1, ["cell=gru"], value=0.4)
    later = start_sweep()
    run_job(later, tmp_path, 0, ["cell=rnn"], value=0.3)
    assert [row["cell"] for row in read_table(tmp_path)] == ["rnn"]


def test_summary_left_by_an_earlier_sweep_is_not_read_as_this_jobs(tmp_path, start_sweep):
    write_summary(tmp_path / "0", 0.125)
    os.utime(tmp_path / "0" / "summary.json", (1e9, 1e9))
    callback = start_sweep()
    run_job(callback, tmp_path, 0, ["model.dropout=1.5"], error=ValueError("bad dropout"))
    (row,) = read_table(tmp_path)
    assert row["status"] == "failed" and row["steps"] == "" and "val_mse" not in row


def test_single_runs_leave_no_table(tmp_path):
    callback = SweepResults(plot=False)
    config = job_config(tmp_path, 0, ["cell=lstm"])
    config.hydra.mode = RunMode.RUN
    callback.on_job_start(config=config, task_function=None)
    callback.on_job_end(config=config, job_return=finished(["cell=lstm"], value=0.1))
    assert not (tmp_path / TABLE_NAME).exists()


# -- real sweeps, in subprocesses --------------------------------------------------------------------


@needs_example_plugin
def test_four_job_sweep_writes_a_row_per_job_and_a_chart(tmp_path):
    result = seqkit_sweep(*FOUR_JOBS, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_table(tmp_path / "sweep")
    assert [row["status"] for row in rows] == ["ok"] * 4
    assert {(row["cell"], row["optimizer.lr"]) for row in rows} == {
        (cell, lr) for cell in ("lstm", "gru") for lr in ("0.01", "0.02")
    }
    assert all(float(row["objective"]) == float(row["val_mse"]) > 0 for row in rows)
    assert (tmp_path / "sweep" / PLOT_NAME).stat().st_size > 0


@needs_example_plugin
def test_failing_job_is_recorded_while_the_others_finish(tmp_path):
    two_jobs = [a for a in FOUR_JOBS if not a.startswith(("cell=", "optimizer.lr="))]
    result = seqkit_sweep(*two_jobs, "model.dropout=1.5,0.0", cwd=tmp_path)
    assert result.returncode == 1
    message = "ValueError: model.dropout must be in [0, 1), got 1.5"
    assert f"seqkit: sweep job 0 failed: {message}" in result.stderr
    rows = read_table(tmp_path / "sweep")
    assert [(row["model.dropout"], row["status"], row["error"]) for row in rows] == [
        ("1.5", "failed", message),
        ("0.0", "ok", ""),
    ]
    assert json.loads((tmp_path / "sweep" / "1" / "summary.json").read_text())["status"] == "completed"


@needs_example_plugin
def test_diverged_job_is_recorded_and_does_not_end_the_sweep(tmp_path):
    two_jobs = [a for a in FOUR_JOBS if not a.startswith(("cell=", "optimizer.lr="))]
    result = seqkit_sweep(*two_jobs, "optimizer.lr=1e30,0.01", cwd=tmp_path)
    assert result.returncode == 1
    rows = read_table(tmp_path / "sweep")
    assert [row["status"] for row in rows] == ["failed", "ok"]
    assert rows[0]["error"].startswith("TrainingStopped: ")


@needs_example_plugin
@needs_joblib_launcher
def test_joblib_launcher_runs_the_sweep_in_parallel_processes(tmp_path):
    result = seqkit_sweep(*FOUR_JOBS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_table(tmp_path / "sweep")
    assert [row["job"] for row in rows] == ["0", "1", "2", "3"]
    assert [row["status"] for row in rows] == ["ok"] * 4
