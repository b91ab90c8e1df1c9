"""``seqkit export``: ONNX and TorchScript exports of tiny runs, their parity checks, and what is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import seqkit.export
from seqkit import cli
from seqkit.export import TOLERANCE, ExportError, export_command, export_run
from seqkit.inference import load_run

from conftest import overridden, trained

#: A tiny run of the built-in cells on the test plugin's data.
TINY = [
    "cell.hidden_size=8",
    "trainer.max_steps=4",
    "trainer.val_every=2",
    "trainer.device=cpu",
    "trainer.progress=false",
]
SERIES = ["dataset=toy_series", "cell=lstm", "head=regression", "~sampler", *TINY]
TOKENS = ["dataset=toy_tokens", "cell=lstm", "head=softmax", "~sampler", "model.num_layers=2", *TINY]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory, host) -> Path:
    return trained(tmp_path_factory, host, SERIES)


@pytest.fixture(scope="module")
def token_run(tmp_path_factory, host) -> Path:
    return trained(tmp_path_factory, host, TOKENS)


@pytest.fixture
def toy_host(host):
    """``export_command`` finds the test plugin's datasets through the CLI's host."""
    previous = cli._HOST
    cli.set_host(host)
    yield host
    cli.set_host(previous)


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def run_alone(snippet: str, cwd: Path) -> dict:
    """``snippet`` in a fresh Python that may import onnxruntime, numpy and json, and nothing of seqkit or torch."""
    guard = "\nimport sys\nassert not {'torch', 'seqkit'} & set(sys.modules), sorted(sys.modules)\n"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(snippet) + guard],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_onnx_export_of_a_forecaster_passes_its_parity_check(series_run, host, tmp_path):
    pytest.importorskip("onnxruntime")
    report = export_run(series_run, "onnx", out=str(tmp_path / "forecaster"), registry=host.registry)
    assert report["model"] == str(tmp_path / "forecaster.onnx")
    assert report["exporter"] == "dynamo"
    assert report["windows"] == 79  # every test window of toy_series
    assert 0 <= report["max_abs_difference"] <= TOLERANCE
    metadata = json.loads((tmp_path / "forecaster.json").read_text())
    assert metadata["inputs"] == [{"name": "inputs", "shape": ["batch", 5, 1], "dtype": "float32"}]
    assert metadata["outputs"] == [{"name": "predictions", "shape": ["batch", 1], "dtype": "float32"}]
    assert metadata["artifacts"] == {"window": 5}
    assert metadata["spec"]["input_kind"] == "real"
    assert metadata["versions"] == {"seqkit": seqkit.__version__, "torch": torch.__version__}
    assert metadata["parity"]["max_abs_difference"] == report["max_abs_difference"]


def test_onnxruntime_alone_reproduces_the_forecasts(series_run, host):
    pytest.importorskip("onnxruntime")
    report = export_run(series_run, "onnx", registry=host.registry)  # the default: RUN/export/model.onnx
    assert report["model"] == str(series_run / "export" / "model.onnx")
    run = load_run(series_run, device="cpu", registry=host.registry)
    windows = torch.cat([batch.inputs for batch in run.dataset().batches("test")])
    np.save(series_run / "export" / "windows.npy", windows.numpy())
    forecasts = run_alone(
        """
        import json
        import numpy as np
        import onnxruntime
        metadata = json.load(open("model.json"))
        windows = np.load("windows.npy").astype(np.float32)
        assert list(windows.shape[1:]) == metadata["inputs"][0]["shape"][1:]
        session = onnxruntime.InferenceSession(metadata["file"])
        (predictions,) = session.run(None, {metadata["inputs"][0]["name"]: windows})
        print(json.dumps(predictions.tolist()))
        """,
        series_run / "export",
    )
    with torch.no_grad():
        expected = run.model(windows)[0]
    assert torch.tensor(forecasts).shape == expected.shape == (79, 1)
    assert torch.allclose(torch.tensor(forecasts), expected, rtol=0, atol=TOLERANCE)


def test_onnxruntime_alone_reproduces_a_token_runs_next_symbol_distribution(token_run, host, tmp_path):
    pytest.importorskip("onnxruntime")
    report = export_run(token_run, "onnx", out=str(tmp_path / "step.onnx"), registry=host.registry)
    assert (report["streams"], report["steps"]) == (4, 48)  # toy_tokens' whole test split, stepped
    assert report["max_abs_difference"] <= TOLERANCE
    text = "abcd\nabzcd"  # z is not in the vocabulary: the JSON's unknown index stands for it
    distributions = run_alone(
        f"""
        import json
        import numpy as np
        import onnxruntime
        metadata = json.load(open("step.json"))
        symbols = metadata["artifacts"]["vocabulary"]["symbols"]
        session = onnxruntime.InferenceSession(metadata["file"])
        states = [d for d in metadata["inputs"] if d["name"] not in ("ids", "context")]
        feed = {{d["name"]: np.zeros([1, d["shape"][1]], np.float32) for d in states}}
        distributions = []
        for symbol in {text!r}:
            index = symbols.index(symbol) if symbol in symbols else metadata["unknown_index"]
            feed["ids"] = np.array([[index]], np.int64)
            logits, *new_state = session.run(None, feed)
            feed.update({{d["name"]: value for d, value in zip(states, new_state)}})
            probabilities = np.exp(logits - logits.max(-1, keepdims=True))
            distributions.append((probabilities / probabilities.sum(-1, keepdims=True))[0, 0].tolist())
        print(json.dumps(distributions))
        """,
        tmp_path,
    )
    run = load_run(token_run, device="cpu", registry=host.registry)
    with torch.no_grad():  # the whole text at once, as the model reads it in training
        logits = run.model(torch.tensor([run.vocabulary.encode(text)]))[0]
    expected = torch.softmax(logits[0], dim=-1)
    assert torch.tensor(distributions).shape == expected.shape == (len(text), 6)
    assert torch.allclose(torch.tensor(distributions), expected, rtol=0, atol=TOLERANCE)
    names = [d["name"] for d in json.loads((tmp_path / "step.json").read_text())["outputs"]]
    assert names == ["logits", "hn_layer0", "cn_layer0", "hn_layer1", "cn_layer1"]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_export_passes_its_parity_check_and_steps_like_the_model(token_run, host, tmp_path):
    report = export_run(token_run, "torchscript", out=str(tmp_path / "step"), registry=host.registry)
    assert report["model"] == str(tmp_path / "step.pt")
    assert report["max_abs_difference"] <= TOLERANCE
    assert any("deprecated" in note for note in report["notes"])
    module = torch.jit.load(str(tmp_path / "step.pt"))
    run = load_run(token_run, device="cpu", registry=host.registry)
    ids = torch.tensor([run.vocabulary.encode("abcd\nab")] * 3)
    with torch.no_grad():
        expected = run.model(ids)[0]
        state = [torch.zeros(3, 8) for _ in range(4)]
        for step in range(ids.shape[1]):
            logits, *state = module(ids[:, step : step + 1], *state)
            assert torch.allclose(logits, expected[:, step : step + 1], rtol=0, atol=TOLERANCE)


def test_an_existing_out_path_is_refused_and_left_unchanged(series_run, toy_host, tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"someone else's model")
    code = export_command([str(series_run), "format=torchscript", f"out={tmp_path / 'model.pt'}"])
    assert code == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'model.pt'} exists" in error and "out=" in error
    assert files_of(tmp_path) == {"model.pt": b"someone else's model"}


def test_a_run_without_a_checkpoint_fails_clearly_and_is_left_unchanged(series_run, toy_host, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(series_run, run_dir, ignore=shutil.ignore_patterns("checkpoints", "export"))
    before = files_of(run_dir)
    assert export_command([str(run_dir), "format=torchscript"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("seqkit: error: no checkpoint at") and "checkpoints/best.pt" in error
    assert files_of(run_dir) == before


def test_an_export_that_differs_from_the_model_fails_and_writes_nothing(series_run, host, tmp_path, monkeypatch):
    monkeypatch.setattr(seqkit.export, "TOLERANCE", -1.0)  # any difference, even none, is too large
    with pytest.raises(ExportError, match="differs from the PyTorch model by .* nothing was written"):
        export_run(series_run, "torchscript", out=str(tmp_path / "out" / "model"), registry=host.registry)
    assert not (tmp_path / "out").exists()


def test_onnx_without_the_extra_names_it_before_any_work(series_run, host, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(ExportError, match=r'pip install "seqkit\[export\]"'):
        export_run(series_run, "onnx", out=str(tmp_path / "model"), registry=host.registry)
    assert list(tmp_path.iterdir()) == []


def test_onnx_export_falls_back_to_the_torchscript_exporter(series_run, host, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    export = torch.onnx.export

    def without_dynamo(*arguments, dynamo=True, **options):
        if dynamo:
            raise RuntimeError("dynamo exporter unavailable")
        return export(*arguments, dynamo=False, **options)

    monkeypatch.setattr(torch.onnx, "export", without_dynamo)
    report = export_run(series_run, "onnx", out=str(tmp_path / "model"), registry=host.registry)
    assert report["exporter"] == "torchscript"
    assert report["max_abs_difference"] <= TOLERANCE


def test_the_peephole_cell_exports_to_onnx_but_not_to_torchscript(tmp_path_factory, host, tmp_path):
    pytest.importorskip("onnxruntime")
    run_dir = trained(tmp_path_factory, host, overridden(TOKENS, "cell=peephole", "model.num_layers=1"))
    report = export_run(run_dir, "onnx", out=str(tmp_path / "peephole"), registry=host.registry)
    assert report["max_abs_difference"] <= TOLERANCE
    with pytest.raises(ExportError, match=r"cell 'peephole' \(PeepholeLSTMCell\) cannot be exported to TorchScript"):
        export_run(run_dir, "torchscript", out=str(tmp_path / "traced"), registry=host.registry)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peephole.json", "peephole.onnx"]
