"""A finished run as an object: ``seqkit.load_run`` and ``seqkit evaluate``, on tiny runs of the test plugin's data."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import seqkit
from seqkit.checkpoint import CheckpointError, save_checkpoint
from seqkit.host import load_host
from seqkit.inference import load_run
from seqkit.registry import RegistryError
from seqkit.training import train

import toy_plugin
from conftest import TOY_SERIES, TOY_TOKENS, trained

needs_example_plugin = pytest.mark.skipif(
    importlib.util.find_spec("seqkit_example_plugin") is None,
    reason="the example plugin is not installed (pip install -e examples/seqkit-example-plugin)",
)


def run_seqkit(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    """The ``seqkit`` command in a subprocess, as tests/test_cli.py runs it, on one thread: with two, a
    parallel reduction may add in another order from one process to the next and move the last bits."""
    environment = {**os.environ, "SEQKIT_STRICT_PLUGINS": "1", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "seqkit", *arguments]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def token_run(tmp_path_factory, host) -> Path:
    return trained(tmp_path_factory, host, [*TOY_TOKENS, "sampler=text", "sampler.length=20", "trainer.sample=false"])


@pytest.fixture(scope="module")
def series_run(tmp_path_factory, host) -> Path:
    return trained(tmp_path_factory, host, TOY_SERIES)


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def rewritten_checkpoint(run_dir: Path, destination: Path, change) -> Path:
    """A copy of the run's best checkpoint with ``change(payload)`` applied."""
    payload = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    change(payload)
    save_checkpoint({k: v for k, v in payload.items() if k not in ("format", "format_version")}, destination)
    return destination


def test_evaluate_repeats_a_token_runs_test_metrics_exactly(token_run, host):
    run = seqkit.load_run(token_run, device="cpu", registry=host.registry)
    summary = json.loads((token_run / "summary.json").read_text())
    assert run.summary == summary
    assert run.evaluate() == summary["metrics"]["test"]


def test_evaluate_repeats_a_series_runs_test_metrics_exactly(series_run, host):
    run = load_run(series_run, device="cpu", registry=host.registry)
    assert run.evaluate() == run.summary["metrics"]["test"]  # skill_vs_persistence included, from the baselines


def test_a_dataset_override_with_an_unknown_key_names_it(series_run, host):
    run = load_run(series_run, device="cpu", registry=host.registry)
    with pytest.raises(ValueError, match=r"^dataset\.lenght: Key 'lenght' not in 'ToySeriesConfig'"):
        run.evaluate(lenght=300)


def test_score_gives_finite_bits_and_counts_unknown_characters(token_run, host, caplog):
    run = load_run(token_run, device="cpu", registry=host.registry)
    text = "abcdabcdabcd\nabcdXYZ"
    with caplog.at_level(logging.WARNING, logger="seqkit.inference"):
        scored = run.score(text)
    assert scored["tokens"] == len(text) - 1
    assert scored["unknown"] == 3 and scored["unknown_rate"] == 3 / len(text)
    assert math.isfinite(scored["bpc"]) and scored["bpc"] > 0 and scored["bpc"] == scored["bits_per_token"]
    assert scored["bits"] == pytest.approx(scored["bpc"] * scored["tokens"])
    assert scored["perplexity"] == pytest.approx(2 ** scored["bpc"])
    assert "3 of 20 symbols (15.00%) are not in the run's vocabulary" in caplog.text


def test_score_on_a_regression_run_says_to_evaluate(series_run, host):
    run = load_run(series_run, device="cpu", registry=host.registry)
    message = "score needs a run trained on tokens; this run forecasts real values (use evaluate)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run.score("0.5 0.7")


def test_sample_draws_texts_from_the_prime(token_run, host):
    run = load_run(token_run, device="cpu", registry=host.registry)
    (text,) = run.sample(prime="ab", length=15, seed=2)
    assert text.startswith("ab") and len(text) == 17 and set(text) <= set("abcd\n")


def test_a_run_directory_without_a_checkpoint_fails_and_is_left_as_it_was(host, tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "summary.json").write_text('{"status": "failed"}\n')
    before = files_of(tmp_path)
    expected = f"no checkpoint at {tmp_path / 'checkpoints' / 'best.pt'}; a finished run has checkpoints/best.pt"
    with pytest.raises(CheckpointError) as raised:
        load_run(tmp_path, device="cpu", registry=host.registry)
    assert str(raised.value) == expected
    assert files_of(tmp_path) == before


def test_a_checkpoint_without_a_spec_fails_naming_it(token_run, host, tmp_path):
    foreign = rewritten_checkpoint(token_run, tmp_path / "foreign.pt", lambda payload: payload.pop("spec"))
    with pytest.raises(CheckpointError, match=r"foreign\.pt lacks spec: it was written by another seqkit layout"):
        load_run(foreign, device="cpu", registry=host.registry)


def test_a_component_no_installed_plugin_provides_is_named(token_run, tmp_path, no_installed_plugins):
    def plugin_cell(payload):
        payload["config"]["cell"]["name"] = "mgu"

    checkpoint = rewritten_checkpoint(token_run, tmp_path / "mgu.pt", plugin_cell)
    registry = load_host([("toy", toy_plugin)], strict=True).registry
    with pytest.raises(RegistryError) as raised:
        load_run(checkpoint, device="cpu", registry=registry)
    assert str(raised.value) == (
        "this run's cell 'mgu' is provided by no installed plugin; install the plugin that trained it "
        "(seqkit plugins lists what is installed)"
    )


@needs_example_plugin
def test_seqkit_evaluate_writes_the_summarys_test_metrics_and_leaves_the_summary(tmp_path):
    tiny = ["trainer.max_steps=6", "trainer.val_every=3", "trainer.progress=false", "trainer.device=cpu"]
    trained_run = run_seqkit("+experiment=example_mgu", *tiny, "hydra.run.dir=run", cwd=tmp_path)
    assert trained_run.returncode == 0, trained_run.stderr
    run = tmp_path / "run"
    summary_bytes = (run / "summary.json").read_bytes()
    result = run_seqkit("evaluate", "run", "device=cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads((run / "evaluate.json").read_text())
    assert json.loads(result.stdout) == written
    assert written["metrics"] == json.loads(summary_bytes)["metrics"]["test"]
    assert (written["split"], written["dataset_overrides"]) == ("test", {})
    assert written["checkpoint"] == str(Path("run") / "checkpoints" / "best.pt")
    assert (run / "summary.json").read_bytes() == summary_bytes


def test_other_data_with_another_vocabulary_is_read_in_the_runs(compose_config, host, tmp_path):
    rng = random.Random(0)
    bar = lambda: " ".join(f"{rng.choice('CDEFGAB')}{rng.choice([1, 2])}" for _ in range(3))  # noqa: E731
    tunes = "".join(
        f"X:{i}\nT:t{i}\nM:3/4\nL:1/8\nK:C\n" + " | ".join(bar() for _ in range(8)) + " |]\n\n" for i in range(6)
    )
    # The same tunes and more training tunes full of other symbols: the file's own vocabulary orders differently.
    extra = "".join(f"X:{i}\nT:x{i}\nM:3/4\nL:1/8\nK:C\n" + "z6 ^g6 | " * 20 + "|]\n\n" for i in range(6, 9))
    (tmp_path / "a.abc").write_text(tunes)
    (tmp_path / "b.abc").write_text(tunes + extra)
    overrides = [
        "dataset=abc",
        f"dataset.path={tmp_path / 'a.abc'}",
        "dataset.split=fixed",
        "dataset.val_tunes=[t4]",
        "dataset.test_tunes=[t5]",
        "dataset.batch_size=2",
        "dataset.seq_length=16",
        "cell=toy_rnn",
        "head=softmax",
        "~sampler",
        "trainer.max_steps=4",
        "trainer.val_every=2",
        "trainer.progress=false",
        "trainer.device=cpu",
    ]
    train(compose_config(overrides), host.registry, tmp_path / "run")
    run = load_run(tmp_path / "run", device="cpu", registry=host.registry)
    other = run.dataset(path=tmp_path / "b.abc")
    assert other.vocabulary.symbols != run.vocabulary.symbols  # so the ids must be translated
    assert run.evaluate(path=tmp_path / "b.abc") == run.summary["metrics"]["test"]  # the same test tune, scored alike
    # The extra training tunes hold '^' and 'g', which the run never saw: they are scored as its unknown symbol.
    own, other_train = run.evaluate_report("train"), run.evaluate_report("train", path=tmp_path / "b.abc")
    assert own["unknown_rate"] == 0.0 and 0.0 < other_train["unknown_rate"] < 1.0
    assert math.isfinite(other_train["metrics"]["bpc"])


# -- predict: forecasts of new data, read with the run's fitted transforms --------------------------------


def test_predict_on_a_token_run_says_to_score_or_sample(token_run, host):
    run = load_run(token_run, device="cpu", registry=host.registry)
    message = "predict needs a run that forecasts real values; this run was trained on tokens (use score or sample)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run.predict("new.csv")


def test_seqkit_predict_on_a_token_run_fails_with_the_message_and_writes_nothing(token_run, host, capsys):
    from seqkit.cli import main, set_host

    before = files_of(token_run)
    set_host(host)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["predict", str(token_run), "device=cpu"])
    finally:
        set_host(None)
    assert exited.value.code == 2
    assert "seqkit: error: predict needs a run that forecasts real values" in capsys.readouterr().err
    assert files_of(token_run) == before


def test_predict_with_a_dataset_that_offers_no_forecasts_says_so(series_run, host):
    run = load_run(series_run, device="cpu", registry=host.registry)
    with pytest.raises(
        ValueError, match=r"^dataset ToySeries offers no forecasts: it does not implement Dataset\.forecast$"
    ):
        run.predict()


def test_a_dataset_that_cannot_take_the_runs_transforms_refuses_other_settings_naming_them(series_run, host):
    run = load_run(series_run, device="cpu", registry=host.registry)
    assert run.dataset(length=300).artifacts() == run.artifacts  # equal artifacts: nothing to take
    message = (
        "dataset ToySeries cannot take a finished run's transforms (window); it reads new data only as it was fitted"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run.evaluate(window=6)


def test_a_run_without_artifacts_reads_data_with_its_own_transforms_and_says_so(series_run, host, tmp_path, caplog):
    bare = rewritten_checkpoint(series_run, tmp_path / "bare.pt", lambda payload: payload.pop("artifacts"))
    run = load_run(bare, device="cpu", registry=host.registry)
    with caplog.at_level(logging.WARNING, logger="seqkit.inference"):
        run.dataset(window=6)
    assert "the run's checkpoint holds no artifacts" in caplog.text


def test_a_series_or_array_to_forecast_becomes_a_csv_with_its_time_stamps():
    import numpy as np
    import pandas as pd

    from seqkit.inference import data_file

    times = pd.date_range("2020-03-01 00:15", periods=3, freq="15min")
    with data_file(pd.Series([1.5, 2.25, 0.1], index=times), "Load") as path:
        assert Path(path).read_text().splitlines() == [
            "time,Load",
            "2020-03-01 00:15:00,1.5",
            "2020-03-01 00:30:00,2.25",
            "2020-03-01 00:45:00,0.1",
        ]
    assert not Path(path).exists()
    with data_file(np.array([3.0, 4.0])) as path:
        assert Path(path).read_text().splitlines() == ["value", "3.0", "4.0"]
    with data_file("given.csv") as path:
        assert path == "given.csv"
    with pytest.raises(ValueError, match="a Series to forecast needs a DatetimeIndex"):
        with data_file(pd.Series([1.0, 2.0])):
            pass
    with pytest.raises(ValueError, match=r"an array to forecast must be 1-D, one value per step; got shape \(2, 2\)"):
        with data_file(np.ones((2, 2))):
            pass
