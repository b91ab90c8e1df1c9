"""``seqkit export RUN``: a finished run's model as one portable file (ONNX or TorchScript), checked for parity.

    seqkit export outputs/bach/2024-05-01_12-00-00                  RUN/export/model.onnx + model.json
    seqkit export RUN format=torchscript out=/tmp/bach.pt            a traced module (deprecated upstream)

A token run is exported as ONE STEP with explicit state: inputs ``ids (batch, 1) int64``, each layer's
state tensors (``h0_layer0``, ``c0_layer0``, ... ``(batch, hidden)``, zeros to start) and ``context (batch, 1)
int64`` when the data has one; outputs ``logits`` and the new state (``hn_layer0``, ``cn_layer0``, ...). A
forecaster is exported as its forward pass over a fixed window, ``inputs (batch, window, features) float32``
-> ``predictions``, the state starting at zero inside. ``<out>.json`` beside the model holds what a user needs
without seqkit: the run's artifacts (vocabulary, scaler, window, features), its spec, the input and output
names and shapes, the versions. Before anything is written, the export runs beside the PyTorch model on the
run's test data (a token stream stepped with carried state; the test windows): a largest absolute difference
above :data:`TOLERANCE` fails the export. ONNX needs ``pip install "seqkit[export]"``, imported only when asked.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqkit import __version__
from seqkit.checkpoint import CheckpointError
from seqkit.errors import error_line
from seqkit.inference import FinishedRun, load_run
from seqkit.registry import Registry, RegistryError

#: The largest absolute difference (float32) allowed between the exported model and the PyTorch model.
TOLERANCE = 1e-4
#: Symbols of the test stream stepped through a token run's export.
TOKEN_STEPS = 200
#: Test windows run through a forecaster's export.
MAX_WINDOWS = 256
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
EXTRA = 'pip install "seqkit[export]"'
USAGE = "usage: seqkit export RUN_DIR [format=onnx|torchscript] [out=PATH] [checkpoint=best|last|PATH] [device=cpu]"
TORCHSCRIPT_NOTE = (
    "TorchScript is deprecated upstream (PyTorch recommends torch.export and ONNX); format=onnx is the portable choice"
)

CONTEXT_NOTE = "context: the context class of each step, computed from the text so far by the data's sample format"
Runner = Callable[[list[torch.Tensor]], list[torch.Tensor]]


class ExportError(Exception):
    """The run cannot be exported, or its export does not reproduce the PyTorch model."""


def state_names(model: nn.Module) -> list[list[str]]:
    """Each layer's state tensor names: ``h``/``c`` for an LSTM-like pair, ``h`` alone, ``s0, s1, ...`` else."""
    layers = model.initial_state(1, torch.device("cpu"))
    return [{1: ["h"], 2: ["h", "c"]}.get(len(layer), [f"s{i}" for i in range(len(layer))]) for layer in layers]


class TokenStep(nn.Module):
    """One step of a token model with its state flattened: ``(ids, *state[, context]) -> (logits, *state)``."""

    def __init__(self, model: nn.Module, layer_sizes: list[int], has_context: bool):
        super().__init__()
        self.model, self.layer_sizes, self.has_context = model, layer_sizes, has_context

    def forward(self, ids: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        context = rest[-1] if self.has_context else None
        flat, ends = list(rest[:-1] if self.has_context else rest), list(itertools.accumulate(self.layer_sizes))
        state = [tuple(flat[end - size : end]) for size, end in zip(self.layer_sizes, ends)]
        logits, new_state = self.model(ids, state, context)
        return (logits, *(tensor for layer in new_state for tensor in layer))


class WindowForecast(nn.Module):
    """A forecaster's forward pass over a window, its state starting at zero: ``inputs -> predictions``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)[0]


def parse_arguments(arguments: list[str]) -> dict[str, str | None]:
    """``RUN [format=...] [out=...] [checkpoint=...] [device=...]`` as a dict; ``ValueError`` on anything else."""
    options: dict[str, str | None] = {"format": "onnx", "out": None, "checkpoint": "best", "device": "cpu"}
    for argument in arguments[1:]:
        key, separator, value = argument.partition("=")
        if not separator or key not in options:
            raise ValueError(f"unknown argument {argument!r}; {USAGE.removeprefix('usage: ')}")
        options[key] = value
    return {"run": arguments[0], **options}


def output_paths(run_dir: Path, form: str, out: str | None) -> tuple[Path, Path]:
    """The model file and its ``.json`` (``out`` a file, or a directory to hold ``model.onnx``), refused when
    either exists: nothing is overwritten."""
    suffix = SUFFIXES[form]
    model_file = Path(out) if out else run_dir / "export"
    model_file = model_file / f"model{suffix}" if model_file.is_dir() or not out else model_file
    if model_file.suffix in SUFFIXES.values() and model_file.suffix != suffix:
        raise ValueError(f"out={model_file} has the suffix of another format; format={form} writes {suffix}")
    model_file = model_file.with_suffix(suffix)
    for path in (model_file, model_file.with_suffix(".json")):
        if path.exists():
            raise ValueError(f"{path} exists and is never overwritten; choose another out=PATH")
    return model_file, model_file.with_suffix(".json")


def parity_batches(run: FinishedRun) -> list[Any]:
    """The first batches of the run's test split: :data:`TOKEN_STEPS` steps of tokens or :data:`MAX_WINDOWS` windows."""
    batches, seen = [], 0
    try:
        for batch in run.dataset().batches("test"):
            batches.append(batch)
            seen += batch.inputs.shape[1] if run.spec.input_kind == "tokens" else len(batch)
            if seen >= (TOKEN_STEPS if run.spec.input_kind == "tokens" else MAX_WINDOWS):
                break
    except (OSError, ValueError) as error:
        raise ExportError(f"the parity check reads the run's test data, which cannot be loaded: {error}") from None
    if not batches:
        raise ExportError("the run's test split holds no batches: the parity check has nothing to compare")
    return batches


def token_stream(run: FinishedRun, batches: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The test streams, batch after batch, cut to :data:`TOKEN_STEPS` symbols: ``(streams, steps)`` ids."""
    streams = min(len(batch) for batch in batches)
    ids = torch.cat([batch.inputs[:streams] for batch in batches], dim=1)[:, :TOKEN_STEPS]
    context = None
    if run.spec.context_size:
        context = torch.cat([batch.context[:streams] for batch in batches], dim=1)[:, :TOKEN_STEPS].to(run.device)
    return ids.to(run.device), context


def signature(run: FinishedRun, batches: list[Any]) -> tuple[nn.Module, list[torch.Tensor], list[dict], list[dict]]:
    """The module to export, an example of its inputs (batch 2), and its input and output descriptions."""
    model, spec, device = run.model, run.spec, run.device
    if spec.input_kind == "tokens":
        names = state_names(model)
        state = model.initial_state(2, device)
        widths = [tensor.shape[-1] for layer in state for tensor in layer]
        state_inputs = [f"{letter}0_layer{i}" for i, letters in enumerate(names) for letter in letters]
        state_outputs = [f"{letter}n_layer{i}" for i, letters in enumerate(names) for letter in letters]
        ids, context = token_stream(run, batches)
        example = [ids[:1, :1].repeat(2, 1), *(tensor for layer in state for tensor in layer)]
        inputs = [{"name": "ids", "shape": ["batch", 1], "dtype": "int64"}]
        inputs += [{"name": n, "shape": ["batch", w], "dtype": "float32"} for n, w in zip(state_inputs, widths)]
        if context is not None:
            example.append(context[:1, :1].repeat(2, 1))
            inputs.append({"name": "context", "shape": ["batch", 1], "dtype": "int64"})
        module: nn.Module = TokenStep(model, [len(layer) for layer in state], context is not None)
        with torch.no_grad():
            logits = module(*example)[0]
        outputs = [{"name": "logits", "shape": ["batch", *logits.shape[1:]], "dtype": "float32"}]
        outputs += [{"name": n, "shape": ["batch", w], "dtype": "float32"} for n, w in zip(state_outputs, widths)]
    else:
        window = batches[0].inputs[:2].to(device=device, dtype=torch.float32)
        example = [window.repeat(2, 1, 1)[:2]]
        inputs = [{"name": "inputs", "shape": ["batch", *window.shape[1:]], "dtype": "float32"}]
        module = WindowForecast(model)
        with torch.no_grad():
            predictions = module(*example)
        outputs = [{"name": "predictions", "shape": ["batch", *predictions.shape[1:]], "dtype": "float32"}]
    return module.eval(), example, inputs, outputs


def require_onnx() -> None:
    """Raise :class:`ExportError` naming the extra to install when onnx or onnxruntime is missing."""
    for name in ("onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            raise ExportError(f"format=onnx needs the {name} package: {EXTRA}") from None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep the exporters' progress lines, warnings and log records off the command's output."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def describe_cells(run: FinishedRun) -> str:
    """``cell 'peephole' (PeepholeLSTMCell)``: the run's cell as its config names it, and its classes."""
    classes = sorted({type(layer).__name__ for layer in run.model.recurrent.layers})
    return f"cell {run.config.cell.name!r} ({', '.join(classes)})"


def export_onnx(
    module: nn.Module, example: list[torch.Tensor], names: dict[str, list[str]], file: Path, cell: str
) -> str:
    """Write ``file`` with torch's dynamo exporter, or its TorchScript-based one when that fails; returns which."""
    import onnx

    batch = {0: torch.export.Dim("batch")}
    # torch.export sees TokenStep.forward(ids, *rest) as two arguments, the second a tuple
    shapes = (batch, tuple(batch for _ in example[1:])) if isinstance(module, TokenStep) else (batch,)
    dynamic = {
        True: {"dynamic_shapes": shapes, "external_data": False},  # one file; its weights inside
        False: {"dynamic_axes": {name: {0: "batch"} for name in names["input_names"] + names["output_names"]}},
    }
    failures = []
    for dynamo in (True, False):
        try:
            with quiet():
                torch.onnx.export(module, tuple(example), str(file), dynamo=dynamo, **dynamic[dynamo], **names)
            read = {graph_input.name for graph_input in onnx.load(file).graph.input}
            dropped = [name for name in names["input_names"] if name not in read]
            if dropped:  # the exporter did not trace the data flow through the cell's code to these inputs
                raise ExportError(f"its graph does not read {', '.join(dropped)}")
            return "dynamo" if dynamo else "torchscript"
        except Exception as error:  # noqa: BLE001 - each exporter fails in its own way; both are reported
            failures.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {error_line(error)}")
            for path in file.parent.glob(f"{file.name}*"):
                path.unlink()
    hint = f"; the dynamo exporter needs onnxscript: {EXTRA}" if "onnxscript" in failures[0] else ""
    raise ExportError(f"{cell} could not be exported to ONNX ({'; '.join(failures)}){hint}")


def export_torchscript(module: nn.Module, example: list[torch.Tensor], file: Path, cell: str) -> None:
    """Trace ``module`` on ``example`` and save it; a cell whose code cannot be traced or saved is named."""
    try:
        with torch.no_grad(), quiet():
            torch.jit.save(torch.jit.trace(module, tuple(example)), str(file))
    except Exception as error:  # noqa: BLE001 - tracing fails in many ways; the reason is the message's first line
        reason = str(error).strip().splitlines()[0].split(". ")[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"{cell} cannot be exported to TorchScript ({reason}); format=onnx may export it") from None


def onnx_runner(file: Path, names: list[str]) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])

    def run(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        feed = {name: tensor.detach().cpu().numpy() for name, tensor in zip(names, tensors)}
        return [torch.from_numpy(array) for array in session.run(None, feed)]

    return run


def torchscript_runner(file: Path, device: torch.device) -> Runner:
    with quiet():  # torch.jit.load's deprecation warning: the note in the report says it
        loaded = torch.jit.load(str(file), map_location=device)

    def run(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            result = loaded(*(tensor.to(device) for tensor in tensors))
        return [t.cpu() for t in (result if isinstance(result, tuple | list) else (result,))]

    return run


def parity(run: FinishedRun, batches: list[Any], runner: Runner) -> dict[str, Any]:
    """The exported model beside the PyTorch model on the run's test data: ``max_abs_difference`` and what ran."""
    model, device = run.model, run.device
    differences: list[float] = []
    with torch.no_grad():
        if run.spec.input_kind == "tokens":
            ids, context = token_stream(run, batches)
            expected, expected_state = model(ids, None, context)  # the whole stream at once, as evaluation runs
            state = [t for layer in model.initial_state(ids.shape[0], device) for t in layer]
            for step in range(ids.shape[1]):
                extra = [context[:, step : step + 1]] if context is not None else []
                logits, *state = runner([ids[:, step : step + 1], *state, *extra])
                differences.append(float((logits - expected[:, step : step + 1].cpu()).abs().max()))
            final = [t.cpu() for layer in expected_state for t in layer]
            differences += [float((a - b).abs().max()) for a, b in zip(state, final)]
            compared = {"streams": ids.shape[0], "steps": ids.shape[1]}
        else:
            windows = 0
            for batch in batches:
                inputs = batch.inputs[: MAX_WINDOWS - windows].to(device=device, dtype=torch.float32)
                predictions = runner([inputs])[0]
                differences.append(float((predictions - model(inputs)[0].cpu()).abs().max()))
                windows += len(inputs)
                if windows >= MAX_WINDOWS:
                    break
            compared = {"windows": windows}
    return {"max_abs_difference": max(differences), "tolerance": TOLERANCE, "split": "test", **compared}


def plain(value: Any) -> Any:
    """``value`` with tensors and arrays as lists, so it can be written as JSON."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def export_run(
    path: Path | str,
    form: str = "onnx",
    out: str | None = None,
    checkpoint: str = "best",
    device: str = "cpu",
    *,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """Export the run at ``path`` as ``form`` to ``out`` (default ``RUN/export/model.onnx``) and check it.

    Returns the report (paths, exporter, parity figures). Raises :class:`ExportError` when the model
    cannot be exported or its export differs from it by more than :data:`TOLERANCE`, ``ValueError`` for an
    existing ``out``, :class:`CheckpointError` for a run without a checkpoint; nothing is written then.
    """
    if form not in SUFFIXES:
        raise ValueError(f"format must be one of {', '.join(SUFFIXES)}; got {form!r}")
    run = load_run(path, checkpoint, device, registry=registry)
    model_file, metadata_file = output_paths(run.path, form, out)
    if form == "onnx":
        require_onnx()  # before any work
    batches = parity_batches(run)
    module, example, inputs, outputs = signature(run, batches)
    cell = describe_cells(run)
    names = {"input_names": [d["name"] for d in inputs], "output_names": [d["name"] for d in outputs]}
    with tempfile.TemporaryDirectory(prefix="seqkit-export-") as scratch:
        staged = Path(scratch) / model_file.name  # moved into place only once the parity check has passed
        if form == "onnx":
            exporter = export_onnx(module, example, names, staged, cell)
            runner = onnx_runner(staged, names["input_names"])
        else:
            exporter = "torch.jit.trace"
            export_torchscript(module, example, staged, cell)
            runner = torchscript_runner(staged, run.device)
        try:
            checked = parity(run, batches, runner)
        except Exception as error:  # noqa: BLE001 - an export that loads but cannot run is a failed export
            raise ExportError(f"the export of {cell} does not run: {error_line(error, with_type=True)}") from None
        if not checked["max_abs_difference"] <= TOLERANCE:
            raise ExportError(
                f"the export of {cell} differs from the PyTorch model by {checked['max_abs_difference']:.3g} "
                f"(more than {TOLERANCE:g}) on the run's test data; nothing was written"
            )
        metadata = {
            "format": form,
            "file": model_file.name,
            "exporter": exporter,
            "kind": "step" if run.spec.input_kind == "tokens" else "window",
            "inputs": inputs,
            "outputs": outputs,
            "initial_state": "zeros" if run.spec.input_kind == "tokens" else None,
            "spec": run.spec.to_dict(),
            "artifacts": plain(run.artifacts),
            "unknown_index": 0 if run.vocabulary is not None else None,
            "run": str(run.path),
            "checkpoint": str(run.checkpoint),
            "cell": cell,
            "parity": checked,
            "versions": {"seqkit": __version__, "torch": torch.__version__},
            "notes": [TORCHSCRIPT_NOTE] * (form == "torchscript") + [CONTEXT_NOTE] * bool(run.spec.context_size),
        }
        (Path(scratch) / metadata_file.name).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        staged_files = sorted(Path(scratch).iterdir())  # the model, its .json, an ONNX weights file if any
        taken = [str(model_file.parent / f.name) for f in staged_files if (model_file.parent / f.name).exists()]
        if taken:
            raise ValueError(f"{', '.join(taken)} exists and is never overwritten; choose another out=PATH")
        model_file.parent.mkdir(parents=True, exist_ok=True)
        for file in staged_files:
            shutil.move(str(file), model_file.parent / file.name)
    report = {"model": str(model_file), "metadata": str(metadata_file), "format": form, "exporter": exporter}
    return {**report, **checked, "notes": metadata["notes"]}


def export_command(arguments: list[str]) -> int:
    """``seqkit export RUN ...``: print the report as JSON and return 0, or the error on stderr and 2."""
    if not arguments or arguments[0].startswith("-"):
        print(USAGE)
        return 0 if arguments and arguments[0] in ("-h", "--help") else 2
    try:
        options = parse_arguments(arguments)
        report = export_run(options["run"], options["format"], options["out"], options["checkpoint"], options["device"])
    except (ExportError, CheckpointError, RegistryError, ValueError, FileNotFoundError) as error:
        print(f"seqkit: error: {error_line(error) or type(error).__name__}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
