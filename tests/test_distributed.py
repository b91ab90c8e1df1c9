"""Distributed training: one process behaves as before, and two torchrun processes train like one.

The torchrun test runs the ``seqkit`` command (through the test plugin's runner) with two gloo
processes on the CPU, each taking half of every global batch, and checks that it leaves one run
directory and ends with the losses of the matching single-process run.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seqkit.distributed import Ranks, SharedRunDirectory, _quieten_logging, launched_by_torchrun
from seqkit.training import train

from conftest import TOY_SERIES, TOY_TOKENS

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).parent / "torchrun"


def overridden(base: list[str], *extra: str) -> list[str]:
    """``base`` with the keys in ``extra`` replaced (Hydra refuses the same key twice)."""
    keys = {item.split("=", 1)[0] for item in extra}
    return [item for item in base if item.split("=", 1)[0] not in keys] + list(extra)


def test_one_process_is_rank_zero_of_one(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = Ranks()
    assert not launched_by_torchrun() and ranks.is_main and ranks.shard == (0, 1)
    assert ranks.sum([1.0, 2.0]) == [1.0, 2.0] and ranks.broadcast("dir") == "dir" and ranks.gather(3) == [3]
    assert ranks.sum_dicts({"count": 2.0}) == {"count": 2.0}


def test_shared_run_directory_does_nothing_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = OmegaConf.create({"hydra": {"run": {"dir": "outputs/a"}, "output_subdir": ".hydra"}})
    SharedRunDirectory().on_run_start(config)
    assert config.hydra.run.dir == "outputs/a" and config.hydra.output_subdir == ".hydra"


def test_other_ranks_log_no_file_and_only_warnings():
    logging_config = OmegaConf.create(
        {
            "handlers": {"console": {"class": "logging.StreamHandler"}, "file": {"filename": "run/seqkit.log"}},
            "root": {"level": "INFO", "handlers": ["console", "file"]},
        }
    )
    _quieten_logging(logging_config)
    assert list(logging_config.handlers) == ["console"]
    assert (list(logging_config.root.handlers), logging_config.root.level) == (["console"], "WARNING")


def last_train_loss(run_dir: Path) -> float:
    with (run_dir / "metrics.csv").open() as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle) if row["split"] == "train"][-1]


#: Global batches split evenly between two ranks (240 training windows, 16 a batch; 4 token streams).
SPLIT_EVENLY = {
    "series": overridden(TOY_SERIES, "dataset.length=405", "trainer.log_every=5"),
    "tokens": overridden(
        [*TOY_TOKENS, "~sampler"], "dataset.length=200", "trainer.max_steps=12", "trainer.log_every=4"
    ),
}


@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this Python")
@pytest.mark.parametrize("name", ["series", "tokens"])
def test_two_torchrun_processes_train_like_one(name, compose_config, host, tmp_path):
    overrides = SPLIT_EVENLY[name]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(compose_config(overrides), host.registry, tmp_path / "single")
    finally:
        torch.set_num_threads(threads)
    # Microseconds in the directory name: without agreement the two ranks would pick two directories.
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(REPO / "tests" / "toy_runner.py")]
    command += [*overrides, "hydra.run.dir=runs/${now:%H-%M-%S-%f}"]
    result = subprocess.run(
        command, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1
    summary = json.loads((run_dirs[0] / "summary.json").read_text())
    assert (summary["world_size"], summary["steps"]) == (2, single["steps"])
    for split in ("val", "test"):
        assert summary["metrics"][split]["loss"] == pytest.approx(single["metrics"][split]["loss"], abs=1e-4)
    assert last_train_loss(run_dirs[0]) == pytest.approx(last_train_loss(tmp_path / "single"), abs=1e-4)
