"""Exact resume: a run interrupted anywhere and resumed ends exactly where an uninterrupted run ends.

Interruptions here are real SIGTERMs the process sends itself from a step callback, so the trainer's
own signal handling is what saves the checkpoint. A last test runs the ``seqkit`` command in a
subprocess, stops it with SIGTERM from outside, and resumes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqkit.checkpoint import CheckpointError, load_checkpoint
from seqkit.training import Loop, TrainingStopped, train

from conftest import TOY_SERIES, TOY_TOKENS, overridden

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


#: Dropout everywhere (so the random streams matter), a cosine schedule, 8 batches per epoch, 20 steps.
RANDOM_AND_SCHEDULED = (
    "model.num_layers=2",
    "model.dropout=0.3",
    "head.dropout=0.2",
    "optimizer.schedule=cosine",
    "trainer.max_steps=20",
    "trainer.val_every=3",
    "trainer.log_every=2",
)
EXACT = {
    "tokens": overridden([*TOY_TOKENS, "~sampler"], "dataset.length=200", *RANDOM_AND_SCHEDULED),
    "series": overridden(TOY_SERIES, "dataset.length=405", "dataset.batch_size=32", *RANDOM_AND_SCHEDULED),
}
_uninterrupted: dict[str, Path] = {}


def sigterm_at(step: int):
    def callback(loop: Loop) -> None:
        if loop.progression.step == step:
            os.kill(os.getpid(), signal.SIGTERM)

    return callback


def uninterrupted(name: str, compose_config, host, tmp_path_factory) -> Path:
    if name not in _uninterrupted:
        run_dir = tmp_path_factory.mktemp(f"uninterrupted_{name}")
        train(compose_config(EXACT[name]), host.registry, run_dir)
        _uninterrupted[name] = run_dir
    return _uninterrupted[name]


def assert_same_run(first: Path, second: Path) -> None:
    weights = load_checkpoint(first / "checkpoints" / "last.pt")["model"]
    resumed = load_checkpoint(second / "checkpoints" / "last.pt")["model"]
    assert weights.keys() == resumed.keys()
    assert all(torch.equal(weights[key], resumed[key]) for key in weights)
    assert (first / "metrics.csv").read_text() == (second / "metrics.csv").read_text()
    summaries = [json.loads((run / "summary.json").read_text()) for run in (first, second)]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]


@pytest.mark.parametrize("name", ["tokens", "series"])
@pytest.mark.parametrize("stop_step", [5, 8], ids=["inside_epoch", "epoch_boundary"])
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(
    name, stop_step, compose_config, host, tmp_path, tmp_path_factory
):
    reference = uninterrupted(name, compose_config, host, tmp_path_factory)
    with pytest.raises(TrainingStopped) as stopped:
        train(compose_config(EXACT[name]), host.registry, tmp_path, callbacks={"step_end": [sigterm_at(stop_step)]})
    assert (stopped.value.status, stopped.value.exit_code) == ("stopped", 128 + signal.SIGTERM)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["progression"]["step"] == stop_step
    train(compose_config([*EXACT[name], "trainer.resume=auto"]), host.registry, tmp_path)
    assert_same_run(reference, tmp_path)


def test_interrupted_run_summary_says_how_to_resume(compose_config, host, tmp_path):
    with pytest.raises(TrainingStopped):
        train(compose_config(EXACT["series"]), host.registry, tmp_path, callbacks={"step_end": [sigterm_at(4)]})
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] == 4
    assert f"trainer.resume=auto hydra.run.dir={tmp_path}" in summary["error"]


def test_resume_from_another_run_keeps_its_model_and_history(compose_config, host, tmp_path):
    first = overridden(TOY_SERIES, "cell.hidden_size=6", "trainer.max_steps=6", "trainer.val_every=3")
    train(compose_config(first), host.registry, tmp_path / "first")
    overrides = [f"trainer.resume={tmp_path / 'first'}", "trainer.max_steps=9"]
    loops, steps_taken = [], []

    def follow(loop):
        loops.append(loop)
        steps_taken.append(loop.progression.step)

    config = compose_config(overridden(TOY_SERIES, *overrides))
    train(config, host.registry, tmp_path / "second", overrides, callbacks={"step_end": [follow]})
    assert steps_taken == [7, 8, 9]  # on from the checkpoint's step 6
    assert load_checkpoint(tmp_path / "second" / "checkpoints" / "last.pt")["config"]["cell"]["hidden_size"] == 6
    steps = [row["step"] for row in loops[0].metrics_log.rows if row["split"] == "val"]
    assert steps == [3, 6, 9]
    assert (tmp_path / "second" / "checkpoints" / "best.pt").is_file()


def test_resume_refuses_an_override_that_changes_the_trained_model(compose_config, host, tmp_path):
    train(compose_config(overridden(TOY_SERIES, "trainer.max_steps=3")), host.registry, tmp_path / "first")
    overrides = [f"trainer.resume={tmp_path / 'first'}", "cell.hidden_size=12"]
    with pytest.raises(CheckpointError, match="does not fit the model this config builds"):
        train(compose_config(overridden(TOY_SERIES, *overrides)), host.registry, tmp_path / "second", overrides)


def run_seqkit(arguments: list[str], cwd: Path) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "tests" / "toy_runner.py"), *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_sigterm_to_seqkit_leaves_a_checkpoint_that_resume_completes(tmp_path):
    run_dir = tmp_path / "run"
    endless = overridden(TOY_SERIES, "trainer.max_steps=10000000", "trainer.log_every=5", f"hydra.run.dir={run_dir}")
    process = run_seqkit(endless, tmp_path)
    deadline = time.monotonic() + 60
    while not (run_dir / "metrics.csv").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "checkpoint saved" in output
    stopped_at = json.loads((run_dir / "summary.json").read_text())["steps"]
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["progression"]["step"] == stopped_at
    resume = overridden(endless, "trainer.resume=auto", f"trainer.max_steps={stopped_at + 5}")
    output, _ = run_seqkit(resume, tmp_path).communicate(timeout=120)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("completed", stopped_at + 5), output
