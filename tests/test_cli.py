"""The ``seqkit`` command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

needs_example_plugin = pytest.mark.skipif(
    importlib.util.find_spec("seqkit_example_plugin") is None,
    reason="the example plugin is not installed (pip install -e examples/seqkit-example-plugin)",
)

#: A run small enough for a test: the example plugin's data, a few steps, no progress bar.
TINY = ["trainer.max_steps=6", "trainer.val_every=3", "trainer.progress=false", "trainer.device=cpu"]


def seqkit(*arguments: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SEQKIT_STRICT_PLUGINS": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "seqkit", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_describes_the_commands(tmp_path):
    result = seqkit("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "seqkit plugins" in result.stdout and "seqkit sample RUN_DIR" in result.stdout
    groups = dict(
        line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith(("cell: ", "dataset: "))
    )
    assert {"gru", "lstm", "peephole", "rnn"} <= set(groups["cell"].split(", "))
    assert {"abc", "electricity"} <= set(groups["dataset"].split(", "))


def test_plugins_lists_builtins_as_a_table(tmp_path):
    result = seqkit("plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["plugin", "version", "source", "provides"]
    cells_line = next(line for line in lines if line.startswith("seqkit.plugins.cells"))
    assert "built-in" in cells_line and "cell:lstm" in cells_line and "cell:peephole" in cells_line


def test_plugins_json_names_each_component_and_its_plugin(tmp_path):
    result = seqkit("plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    provided = {(c["kind"], c["name"]): p["name"] for p in listing["plugins"] for c in p["components"]}
    assert provided[("cell", "gru")] == "seqkit.plugins.cells"
    assert provided[("dataset", "electricity")] == "seqkit.plugins.electricity"
    assert provided[("dataset", "abc")] == "seqkit.plugins.abc"
    assert provided[("head", "softmax")] == "seqkit.plugins.heads"
    assert provided[("sampler", "text")] == "seqkit.plugins.sampler"
    assert listing["failures"] == []


def test_unknown_cell_lists_the_available_ones_with_their_plugin(tmp_path):
    result = seqkit("cell=lstmm", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown cell 'lstmm'; available: " in result.stderr
    assert "gru, lstm, peephole, rnn (seqkit.plugins.cells)" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_unknown_name_in_a_sweep_fails_before_any_job(tmp_path):
    result = seqkit("-m", "cell=lstm,grux", cwd=tmp_path)
    assert result.returncode == 2 and "unknown cell 'grux'" in result.stderr
    assert not (tmp_path / "multirun").exists()


def test_bad_config_key_fails_before_training_naming_the_key(tmp_path):
    result = seqkit("cell.hidden_sizee=32", cwd=tmp_path)
    assert result.returncode != 0
    assert "hidden_sizee" in result.stderr
    assert not list(tmp_path.glob("outputs/*/*/checkpoints"))


def test_bad_value_type_fails_before_training_naming_the_key(tmp_path):
    result = seqkit("trainer.max_steps=many", cwd=tmp_path)
    assert result.returncode != 0
    assert "max_steps" in result.stderr and "many" in result.stderr
    assert not list(tmp_path.glob("outputs/*/*/checkpoints"))


def test_cfg_job_prints_the_composed_config(tmp_path):
    result = seqkit("--cfg", "job", "cell=gru", "cell.hidden_size=32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cell:\n  hidden_size: 32" in result.stdout and "name: gru" in result.stdout


def test_module_and_console_script_are_the_same_program(tmp_path):
    script = Path(sys.executable).with_name("seqkit")
    if not script.exists():
        pytest.skip("the seqkit console script is not installed next to this interpreter")
    direct = subprocess.run([str(script), "--cfg", "job"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    module = seqkit("--cfg", "job", cwd=tmp_path)
    assert direct.returncode == module.returncode == 0
    assert direct.stdout == module.stdout


@needs_example_plugin
def test_third_party_plugin_is_listed(tmp_path):
    result = seqkit("plugins", "--json", cwd=tmp_path)
    (example,) = [p for p in json.loads(result.stdout)["plugins"] if p["name"] == "example"]
    assert example["source"].startswith("entry point seqkit_example_plugin")
    assert {"kind": "cell", "name": "mgu"} in example["components"]
    assert "experiment/example_mgu" in example["configs"]


@needs_example_plugin
def test_third_party_experiment_runs_end_to_end(tmp_path):
    result = seqkit("+experiment=example_mgu", *TINY, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["experiment"] == "example_mgu"
    assert summary["steps"] == 6 and summary["metrics"]["test"]["mse"] > 0
    assert {"metrics.csv", "loss.png", ".hydra"} <= {p.name for p in run.iterdir()}
    for name in ("last.pt", "best.pt"):
        checkpoint = torch.load(run / "checkpoints" / name, weights_only=True)
        assert checkpoint["config"]["cell"]["name"] == "mgu"


@needs_example_plugin
def test_sweep_runs_each_job_in_its_own_directory(tmp_path):
    result = seqkit(
        "-m", "+experiment=example_mgu", "cell=lstm,gru", *TINY, "hydra.sweep.dir=sweep", cwd=tmp_path, timeout=240
    )
    assert result.returncode == 0, result.stderr
    cells = {}
    for job in ("0", "1"):
        summary = json.loads((tmp_path / "sweep" / job / "summary.json").read_text())
        assert summary["status"] == "completed"
        cells[job] = torch.load(tmp_path / "sweep" / job / "checkpoints" / "best.pt", weights_only=True)["config"]
    assert {cells[j]["cell"]["name"] for j in cells} == {"lstm", "gru"}


def test_a_run_directory_that_is_a_file_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "taken").write_text("a file")
    result = seqkit("+experiment=example_mgu", *TINY, f"hydra.run.dir={tmp_path / 'taken'}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"seqkit: error: hydra.run.dir={tmp_path / 'taken'} is a file, not a directory; choose another hydra.run.dir"
    )


def test_a_wrongly_typed_component_option_names_its_key(tmp_path):
    result = seqkit("+experiment=example_mgu", *TINY, "head.dropout=1.5", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ValueError: head.dropout must be in [0, 1); got 1.5" in result.stdout + result.stderr
