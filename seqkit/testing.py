"""Contract checks for plugin authors: test a cell, dataset, head, sampler or preset in a few lines.

    from seqkit.testing import check_cell, check_dataset

    def test_mgu_honours_the_cell_contract():
        check_cell(MGUCell, MGUConfig(hidden_size=8), input_size=3)

    def test_noisy_sine_honours_the_dataset_contract():
        check_dataset(NoisySine(NoisySineConfig(waves=8, length=40)))

Each check is a plain function that raises ``AssertionError`` naming the component, what is wrong and
how to put it right, and returns what it built for further assertions. They run on the CPU, leave the
global random state as they found it, and take well under a second on small configs.
``run_tiny_experiment`` composes a preset with Hydra, as ``seqkit`` would, and trains it for a few steps.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqkit.components import (
    PADDING_TARGET,
    SPLITS,
    Batch,
    Cell,
    Dataset,
    DataSpec,
    Head,
    SampleFormat,
    Sampler,
    Vocabulary,
)
from seqkit.host import Host, load_host
from seqkit.model import ModelConfig, SequenceModel
from seqkit.recurrent import RecurrentStack, run_cell, step_through_time

__all__ = [
    "check_cell",
    "check_dataset",
    "check_head",
    "check_sampler",
    "compose_config",
    "run_tiny_experiment",
    "tiny_token_model",
]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


# -- small stand-ins the checks build models with -----------------------------------------------------


class _ProbeCell(Cell):
    """An Elman cell, so a sampler can be checked on a model without depending on any plugin's cell."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.step = nn.RNNCell(input_size, hidden_size)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
        h = self.step(x, state[0])
        return h, (h,)


class _ProbeHead(Head):
    """A linear head: cross-entropy for token targets, mean squared error for real ones."""

    def __init__(self, hidden_size: int, spec: DataSpec):
        super().__init__()
        self.spec = spec
        self.linear = nn.Linear(hidden_size, spec.target_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden if self.spec.sequence_targets else hidden[:, -1])

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.spec.target_kind == "tokens":
            return F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1))
        return F.mse_loss(predictions, targets.reshape(predictions.shape))

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        count = float(targets.numel())
        return {"total": float(self.loss(predictions, targets)) * count, "count": count}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["total"] / max(sums["count"], 1.0)}


def tiny_token_model(vocabulary: Vocabulary, hidden_size: int = 16, seed: int = 0) -> SequenceModel:
    """An untrained character model over ``vocabulary`` (embedding, one Elman layer, softmax): for samplers."""
    size = len(vocabulary)
    spec = DataSpec("tokens", size, "tokens", size, stateful=True, sequence_targets=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SequenceModel(
            spec,
            lambda input_size: _ProbeCell(input_size, hidden_size),
            _ProbeHead(hidden_size, spec),
            ModelConfig(),
            hidden_size,
        )


# -- cells -------------------------------------------------------------------------------------------


def _check_state(state: Any, batch_size: int, hidden_size: int, where: str) -> None:
    _expect(
        isinstance(state, tuple) and len(state) >= 1 and all(isinstance(t, torch.Tensor) for t in state),
        f"{where} must be a non-empty tuple of tensors, got {type(state).__name__}",
    )
    for index, tensor in enumerate(state):
        _expect(
            _shape(tensor) == (batch_size, hidden_size),
            f"{where}: state[{index}] has shape {_shape(tensor)}, expected (batch, hidden) = "
            f"{(batch_size, hidden_size)}",
        )
        _expect(
            tensor.dtype == torch.float32, f"{where}: state[{index}] is {tensor.dtype}, expected the dtype asked for"
        )


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str, rtol: float = 1e-4) -> None:
    """Equal up to ``atol`` plus ``rtol`` of the largest expected magnitude (float32 sums differ in order)."""
    _expect(_shape(actual) == _shape(expected), f"{what}: shapes differ, {_shape(actual)} vs {_shape(expected)}")
    if not actual.numel():
        return
    difference = float((actual - expected).abs().max())
    limit = atol + rtol * float(expected.abs().max())
    _expect(difference <= limit, f"{what}: largest difference {difference:.3g} exceeds {limit:.3g}")


def _gradients(
    cell: Cell, path: Callable, inputs: torch.Tensor, state: tuple, seed: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Gradients of a random weighting of ``path``'s outputs and final state: per parameter, and of the inputs."""
    cell.zero_grad(set_to_none=True)
    leaf_inputs = inputs.clone().requires_grad_(True)
    outputs, final = path(cell, leaf_inputs, state)
    generator = torch.Generator().manual_seed(seed)
    # Random weights on every output and final state: no parameter's gradient can cancel out by symmetry.
    loss = (outputs * torch.randn(outputs.shape, generator=generator)).sum()
    for tensor in final:
        loss = loss + (tensor * torch.randn(tensor.shape, generator=generator)).sum()
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in cell.named_parameters() if p.grad is not None}
    return grads, leaf_inputs.grad


def check_cell(
    factory: Callable[..., Cell],
    config: Any,
    input_size: int = 3,
    *,
    batch_size: int = 4,
    steps: int = 6,
    atol: float = 1e-5,
) -> Cell:
    """Check a cell factory against the ``Cell`` contract; returns the cell it built.

    Checks: it is a ``seqkit.components.Cell`` with ``input_size``/``hidden_size``; the initial state and
    one step have the documented shapes; a step reads the state it is given and returns a new one; its
    ``forward_sequence`` (if any) matches stepping in outputs, final state and gradients, and carries
    state across calls; every parameter and the inputs get a gradient; two layers stack in a
    ``RecurrentStack``; two SGD steps of a small ``SequenceModel`` built on it lower the loss and move
    every cell parameter.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cell = factory(config, input_size)
        name = f"cell {type(cell).__name__}"
        _expect(
            isinstance(cell, Cell),
            f"the factory returned {type(cell).__qualname__}, which is not a seqkit.components.Cell subclass",
        )
        _expect(
            getattr(cell, "input_size", None) == input_size,
            f"{name}: input_size is {getattr(cell, 'input_size', None)!r}, expected {input_size} (set it in __init__)",
        )
        hidden_size = getattr(cell, "hidden_size", None)
        _expect(
            isinstance(hidden_size, int) and hidden_size >= 1,
            f"{name}: hidden_size is {hidden_size!r}, expected a positive int (set it in __init__)",
        )
        configured = getattr(config, "hidden_size", None)
        _expect(
            configured is None or configured == hidden_size,
            f"{name}: hidden_size is {hidden_size} but its config says {configured}",
        )
        _expect(len(list(cell.parameters())) > 0, f"{name} has no parameters; register them as nn.Parameter")
        cpu = torch.device("cpu")
        generator = torch.Generator().manual_seed(1)
        cell.eval()  # the comparisons of outputs and gradients need the same numbers twice (no dropout noise)

        initial = cell.initial_state(batch_size, cpu, torch.float32)
        _check_state(initial, batch_size, hidden_size, f"{name}.initial_state({batch_size}, cpu, float32)")
        x = torch.randn(batch_size, input_size, generator=generator)
        with torch.no_grad():
            h, after = cell(x, initial)
            _expect(isinstance(h, torch.Tensor), f"{name}.forward must return (h, state); h is {type(h).__name__}")
            _expect(
                _shape(h) == (batch_size, hidden_size),
                f"{name}.forward: h has shape {_shape(h)}, expected (batch, hidden) = {(batch_size, hidden_size)}",
            )
            _check_state(after, batch_size, hidden_size, f"{name}.forward: the returned state")
            _expect(
                len(after) == len(initial),
                f"{name}.forward returned a state of {len(after)} tensors; initial_state has {len(initial)}",
            )
            _expect(
                any(not torch.equal(new, old) for new, old in zip(after, initial, strict=True)),
                f"{name}.forward returned the state it was given; return the updated state",
            )
            other = tuple(torch.randn(t.shape, generator=generator) for t in initial)
            h_other, _ = cell(x, other)
            _expect(
                not torch.allclose(h, h_other),
                f"{name}.forward gives the same output from two different states: it ignores its state",
            )

        inputs = torch.randn(batch_size, steps, input_size, generator=generator)
        start = tuple(torch.randn(t.shape, generator=generator) for t in initial)
        with torch.no_grad():
            stepped, stepped_state = step_through_time(cell, inputs, start)
            whole, whole_state = run_cell(cell, inputs, start)
            _expect(
                _shape(whole) == (batch_size, steps, hidden_size),
                f"{name}: outputs over a sequence have shape {_shape(whole)}, "
                f"expected {(batch_size, steps, hidden_size)}",
            )
            _assert_close(whole, stepped, atol, f"{name}: forward_sequence and stepping give different outputs")
            for index, (a, b) in enumerate(zip(whole_state, stepped_state, strict=True)):
                _assert_close(
                    a, b, atol, f"{name}: forward_sequence and stepping give a different final state[{index}]"
                )
            middle = steps // 2
            first, carried = run_cell(cell, inputs[:, :middle], start)
            second, _ = run_cell(cell, inputs[:, middle:], carried)
            _assert_close(
                torch.cat([first, second], dim=1),
                whole,
                atol,
                f"{name}: a sequence run in two calls (state carried) differs from one call",
            )

        through_runner, input_grad = _gradients(cell, run_cell, inputs, start, seed=2)
        for parameter_name, _ in cell.named_parameters():
            grad = through_runner.get(parameter_name)
            _expect(grad is not None, f"{name}: parameter {parameter_name!r} gets no gradient; is it used in forward?")
            _expect(bool(torch.isfinite(grad).all()), f"{name}: parameter {parameter_name!r} has a non-finite gradient")
            _expect(bool(grad.abs().sum() > 0), f"{name}: parameter {parameter_name!r} has a zero gradient everywhere")
        _expect(
            input_grad is not None and bool(input_grad.abs().sum() > 0),
            f"{name}: no gradient reaches the inputs, so a layer stacked below this one would not learn",
        )
        if getattr(cell, "forward_sequence", None) is not None:
            stepwise, _ = _gradients(cell, step_through_time, inputs, start, seed=2)
            for parameter_name, grad in through_runner.items():
                _assert_close(
                    grad,
                    stepwise[parameter_name],
                    max(atol, 1e-4),
                    f"{name}: gradients of {parameter_name!r} differ between forward_sequence and stepping",
                )

        _check_stack(factory, config, input_size, hidden_size, inputs, name)
        _check_training(factory, config, input_size, hidden_size, name)
    return cell


def _check_stack(factory: Callable, config: Any, input_size: int, hidden_size: int, inputs: torch.Tensor, name: str):
    stack = RecurrentStack(lambda size: factory(config, size), input_size, num_layers=2)
    outputs, states = stack(inputs)
    batch_size, steps, _ = inputs.shape
    _expect(
        _shape(outputs) == (batch_size, steps, stack.hidden_size),
        f"{name}: two stacked layers give outputs of shape {_shape(outputs)}, expected "
        f"{(batch_size, steps, stack.hidden_size)}",
    )
    _expect(len(states) == 2, f"{name}: two stacked layers return {len(states)} layer states")
    for layer, state in enumerate(states):
        _check_state(state, batch_size, hidden_size, f"{name}: stacked layer {layer}'s final state")


def _check_training(factory: Callable, config: Any, input_size: int, hidden_size: int, name: str) -> None:
    spec = DataSpec("real", input_size, "real", 1)
    model = SequenceModel(
        spec, lambda size: factory(config, size), _ProbeHead(hidden_size, spec), ModelConfig(), hidden_size
    )
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(8, 5, input_size, generator=generator)
    targets = inputs[:, :, 0].mean(dim=1, keepdim=True)
    cell_before = {key: value.detach().clone() for key, value in model.recurrent.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def loss_now() -> torch.Tensor:
        predictions, _ = model(inputs)
        return model.head.loss(predictions, targets)

    with torch.no_grad():
        before = float(loss_now())
    for _ in range(2):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_now()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(loss_now())
    _expect(
        math.isfinite(before) and math.isfinite(after), f"{name}: training gives a non-finite loss ({before}, {after})"
    )
    _expect(after < before, f"{name}: two SGD steps on one batch did not lower the loss ({before:.6g} -> {after:.6g})")
    for key, value in model.recurrent.named_parameters():
        _expect(not torch.equal(value, cell_before[key]), f"{name}: training did not change parameter {key!r}")


# -- datasets ----------------------------------------------------------------------------------------


def _check_batch(batch: Any, spec: DataSpec, where: str) -> None:
    _expect(isinstance(batch, Batch), f"{where} is {type(batch).__name__}, not a seqkit.components.Batch")
    inputs, targets = batch.inputs, batch.targets
    _expect(
        isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor),
        f"{where}: inputs and targets must be tensors",
    )
    rows = inputs.shape[0] if inputs.ndim else 0
    _expect(rows >= 1, f"{where} is empty")
    if spec.input_kind == "tokens":
        _expect(inputs.dtype == torch.long, f"{where}: token inputs are {inputs.dtype}, expected torch.long")
        _expect(inputs.ndim == 2, f"{where}: token inputs have shape {_shape(inputs)}, expected (batch, time)")
        _expect(
            bool(((inputs >= 0) & (inputs < spec.input_size)).all()),
            f"{where}: token inputs outside [0, {spec.input_size}) (spec.input_size is the vocabulary size)",
        )
    else:
        _expect(inputs.is_floating_point(), f"{where}: real inputs are {inputs.dtype}, expected a float dtype")
        _expect(
            inputs.ndim == 3 and inputs.shape[2] == spec.input_size,
            f"{where}: real inputs have shape {_shape(inputs)}, expected (batch, time, {spec.input_size})",
        )
        _expect(bool(torch.isfinite(inputs).all()), f"{where}: inputs hold NaN or infinite values")
    time_steps = inputs.shape[1]
    if spec.target_kind == "tokens":
        expected = [(rows, time_steps)] if spec.sequence_targets else [(rows,)]
        _expect(targets.dtype == torch.long, f"{where}: token targets are {targets.dtype}, expected torch.long")
        real = targets[targets != PADDING_TARGET]
        _expect(
            bool(((real >= 0) & (real < spec.target_size)).all()),
            f"{where}: token targets outside [0, {spec.target_size}) (and not PADDING_TARGET)",
        )
    else:
        size = spec.target_size
        if spec.sequence_targets:
            expected = [(rows, time_steps, size)] + ([(rows, time_steps)] if size == 1 else [])
        else:
            expected = [(rows, size)]
        _expect(targets.is_floating_point(), f"{where}: real targets are {targets.dtype}, expected a float dtype")
        _expect(bool(torch.isfinite(targets).all()), f"{where}: targets hold NaN or infinite values")
    _expect(
        _shape(targets) in expected,
        f"{where}: targets have shape {_shape(targets)}, expected {' or '.join(map(str, expected))} for this spec",
    )
    context = batch.context
    if not spec.context_size:
        _expect(context is None, f"{where} has a context but spec.context_size is 0")
        return
    _expect(
        isinstance(context, torch.Tensor) and context.dtype == torch.long and _shape(context) == (rows, time_steps),
        f"{where}: spec.context_size is {spec.context_size}, so batch.context must be a long tensor of shape "
        f"{(rows, time_steps)}, got {_shape(context) if isinstance(context, torch.Tensor) else context!r}",
    )
    _expect(
        bool(((context >= 0) & (context < spec.context_size)).all()),
        f"{where}: context classes outside [0, {spec.context_size}) (spec.context_size)",
    )


def _row_keys(batch: Batch) -> list[str]:
    """One digest per example (inputs and targets together), to compare batches as multisets of rows."""
    keys = []
    for inputs, targets in zip(batch.inputs, batch.targets, strict=True):
        digest = hashlib.blake2b(digest_size=16)
        digest.update(inputs.contiguous().numpy().tobytes())
        digest.update(targets.contiguous().numpy().tobytes())
        if batch.context is not None:
            digest.update(batch.context[len(keys)].contiguous().numpy().tobytes())
        keys.append(digest.hexdigest())
    return keys


def _epoch_keys(batches: Iterable[Batch]) -> list[list[str]]:
    return [_row_keys(batch) for batch in batches]


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return False


def check_dataset(dataset: Any, *, world_size: int = 2) -> Any:
    """Check a built dataset against the ``Dataset`` contract; returns it.

    Checks, for every split: batches are ``Batch`` objects whose dtypes and shapes match ``dataset.spec``
    (token ids in range, real values finite, a ``(batch, time)`` context of classes in range exactly when
    ``spec.context_size`` is set); ``num_batches`` equals what ``batches`` yields; the same
    epoch gives the same batches twice; ``world_size`` shards share out the split without overlap (all of
    it for val/test, at most ``world_size - 1`` examples per batch left out of train) and every rank gets
    the same number of non-empty training batches; consecutive batches of a stateful dataset keep
    their size. ``artifacts()`` must be plain data that survives ``torch.save``/``torch.load(weights_only=True)``.
    """
    name = f"dataset {type(dataset).__name__}"
    missing = [a for a in ("spec", "vocabulary", "batches", "num_batches", "artifacts") if not hasattr(dataset, a)]
    _expect(not missing and isinstance(dataset, Dataset), f"{name} lacks {', '.join(missing)} (see Dataset)")
    spec = dataset.spec
    _expect(isinstance(spec, DataSpec), f"{name}.spec is {type(spec).__name__}, not a seqkit.components.DataSpec")
    _expect(spec.input_size >= 1 and spec.target_size >= 1, f"{name}.spec sizes must be at least 1: {spec}")
    if spec.input_kind == "tokens":
        vocabulary = dataset.vocabulary
        _expect(isinstance(vocabulary, Vocabulary), f"{name} has token inputs but no Vocabulary in .vocabulary")
        _expect(
            len(vocabulary) == spec.input_size,
            f"{name}: the vocabulary has {len(vocabulary)} symbols but spec.input_size is {spec.input_size}",
        )
        _expect(
            Vocabulary.from_dict(vocabulary.to_dict()).symbols == vocabulary.symbols,
            f"{name}: the vocabulary does not survive to_dict/from_dict",
        )

    for split in SPLITS:
        announced = dataset.num_batches(split)
        _expect(
            isinstance(announced, int) and announced >= 1,
            f"{name}.num_batches({split!r}) is {announced!r}; each split needs at least one batch",
        )
        sizes = []
        for index, batch in enumerate(dataset.batches(split, 0)):
            _check_batch(batch, spec, f"{name}: {split} batch {index}")
            sizes.append(len(batch))
        _expect(
            len(sizes) == announced,
            f"{name}.num_batches({split!r}) is {announced} but batches({split!r}) yielded {len(sizes)}",
        )
        if spec.stateful:
            _expect(
                len(set(sizes)) == 1,
                f"{name} is stateful but its {split} batches vary in size ({sorted(set(sizes))}); the carried "
                "state needs one row per stream in every batch",
            )
        once = _epoch_keys(dataset.batches(split, 1))
        _expect(
            once == _epoch_keys(dataset.batches(split, 1)),
            f"{name}: batches({split!r}, epoch=1) differ between two passes; derive any shuffling from the "
            "config's seed and the epoch, never from global random state",
        )
        _check_shards(dataset, split, world_size, name)

    artifacts = dataset.artifacts()
    _expect(
        isinstance(artifacts, dict) and _is_plain(artifacts),
        f"{name}.artifacts() must be a dict of plain data (str keys; lists, numbers, strings, None)",
    )
    buffer = io.BytesIO()
    torch.save(artifacts, buffer)
    buffer.seek(0)
    _expect(
        torch.load(buffer, weights_only=True) == artifacts,
        f"{name}.artifacts() does not come back equal from torch.save/torch.load(weights_only=True)",
    )
    return dataset


def _check_shards(dataset: Any, split: str, world_size: int, name: str) -> None:
    full = _epoch_keys(dataset.batches(split, 0))
    everything = Counter(key for batch in full for key in batch)
    shared: Counter[str] = Counter()
    step_counts = []
    for rank in range(world_size):
        batches = _epoch_keys(dataset.batches(split, 0, (rank, world_size)))
        if split == "train":
            _expect(
                all(batches),
                f"{name}: rank {rank} of {world_size} gets an empty train batch; training on it gives a NaN loss",
            )
        step_counts.append(len(batches))
        shared.update(key for batch in batches for key in batch)
    _expect(
        not shared - everything,
        f"{name}: shards of {split!r} hold examples the unsharded split does not, or the same example on "
        "more than one rank; give rank r of n a disjoint share (e.g. rows r::n)",
    )
    left_out = sum((everything - shared).values())
    if split == "train":
        _expect(
            len(set(step_counts)) == 1,
            f"{name}: ranks get {step_counts} train batches; every rank must take the same number of steps",
        )
        limit = (world_size - 1) * max(len(full), 1)
        _expect(left_out <= limit, f"{name}: sharding leaves {left_out} train examples unused (more than {limit})")
    else:
        _expect(left_out == 0, f"{name}: sharding leaves {left_out} {split} examples to no rank; evaluate all of it")


# -- heads -------------------------------------------------------------------------------------------


def _random_targets(spec: DataSpec, batch_size: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    if spec.target_kind == "tokens":
        shape = (batch_size, steps) if spec.sequence_targets else (batch_size,)
        return torch.randint(0, spec.target_size, shape, generator=generator)
    shape = (batch_size, steps, spec.target_size) if spec.sequence_targets else (batch_size, spec.target_size)
    return torch.randn(shape, generator=generator)


def _check_sums(sums: Any, name: str) -> None:
    _expect(isinstance(sums, dict), f"{name}.metric_sums must return a dict, got {type(sums).__name__}")
    _expect("count" in sums, f"{name}.metric_sums must include 'count' (how many predictions were scored)")
    for key, value in sums.items():
        _expect(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            f"{name}.metric_sums[{key!r}] is {value!r}; return finite Python numbers (float(tensor))",
        )


def check_head(
    factory: Callable[..., Head],
    config: Any,
    spec: DataSpec,
    hidden_size: int = 8,
    *,
    batch_size: int = 6,
    steps: int = 5,
) -> Head:
    """Check a head factory against the ``Head`` contract for data described by ``spec``; returns the head.

    Checks: it is a ``seqkit.components.Head``; the loss of a batch is a finite scalar whose gradient
    reaches the hidden states and every head parameter; ``metric_sums`` are finite numbers with a
    ``count`` that add up (two half batches sum to the whole batch); ``metrics`` has lower-case names,
    finite values and includes ``main_metric``; for token sequence targets, a row of ``PADDING_TARGET``
    targets changes no sum.
    """
    _expect(batch_size >= 2, "check_head needs batch_size >= 2 to split a batch in halves")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = factory(config, hidden_size, spec)
        name = f"head {type(head).__name__}"
        _expect(isinstance(head, Head), f"the factory returned {type(head).__qualname__}, not a seqkit.components.Head")
        main = head.main_metric
        _expect(isinstance(main, str) and main == main.lower(), f"{name}.main_metric {main!r} must be a lower-case str")
        generator = torch.Generator().manual_seed(1)
        hidden = torch.randn(batch_size, steps, hidden_size, generator=generator, requires_grad=True)
        targets = _random_targets(spec, batch_size, steps, generator)

        head.train()
        predictions = head(hidden)
        _expect(isinstance(predictions, torch.Tensor), f"{name}.forward must return a tensor")
        _expect(predictions.shape[0] == batch_size, f"{name}.forward must keep the batch first: {_shape(predictions)}")
        loss = head.loss(predictions, targets)
        _expect(
            isinstance(loss, torch.Tensor) and loss.ndim == 0,
            f"{name}.loss must return a scalar tensor, got {loss!r}",
        )
        _expect(bool(torch.isfinite(loss)), f"{name}.loss is {loss.detach().item()} on ordinary inputs")
        _expect(loss.requires_grad, f"{name}.loss has no gradient (computed under no_grad or detached?)")
        loss.backward()
        _expect(
            hidden.grad is not None and bool(hidden.grad.abs().sum() > 0),
            f"{name}: no gradient reaches the hidden states, so the cells below would not learn",
        )
        for parameter_name, parameter in head.named_parameters():
            _expect(parameter.grad is not None, f"{name}: parameter {parameter_name!r} gets no gradient from the loss")

        head.eval()
        with torch.no_grad():
            predictions = head(hidden)
            whole = head.metric_sums(predictions, targets)
            _check_sums(whole, name)
            half = batch_size // 2
            first = head.metric_sums(predictions[:half], targets[:half])
            second = head.metric_sums(predictions[half:], targets[half:])
        _check_sums(first, name)
        _check_sums(second, name)
        _expect(
            set(first) == set(whole) == set(second), f"{name}.metric_sums returns different keys for different batches"
        )
        for key in whole:
            added = first[key] + second[key]
            _expect(
                math.isclose(added, whole[key], rel_tol=1e-4, abs_tol=1e-6),
                f"{name}.metric_sums is not additive: {key!r} is {whole[key]:.6g} for a batch but its two halves "
                f"add up to {added:.6g}; return sums (not means), so batches and processes can be added",
            )
        metrics = head.metrics(whole)
        _expect(isinstance(metrics, dict), f"{name}.metrics must return a dict")
        for key, value in metrics.items():
            _expect(
                isinstance(key, str) and key == key.lower(), f"{name}.metrics: metric name {key!r} is not lower case"
            )
            _expect(
                isinstance(value, int | float) and math.isfinite(value),
                f"{name}.metrics[{key!r}] is {value!r}; expected a finite number",
            )
        _expect(main in metrics, f"{name}.main_metric {main!r} is not among its metrics {sorted(metrics)}")
        if spec.target_kind == "tokens" and spec.sequence_targets:
            _check_padding(head, predictions, targets, name)
    return head


def _check_padding(head: Head, predictions: torch.Tensor, targets: torch.Tensor, name: str) -> None:
    """A row of ``PADDING_TARGET`` adds nothing: the sums equal those of the batch without that row."""
    padded = targets.clone()
    padded[-1] = PADDING_TARGET
    with torch.no_grad():
        expected = head.metric_sums(predictions[:-1], targets[:-1])
        got = head.metric_sums(predictions, padded)
    for key, value in expected.items():
        _expect(
            math.isclose(got.get(key, math.nan), value, rel_tol=1e-4, abs_tol=1e-6),
            f"{name}.metric_sums counts padding: {key!r} is {got.get(key)!r} with a row of PADDING_TARGET "
            f"targets but {value:.6g} without that row; leave targets equal to PADDING_TARGET out",
        )


# -- samplers ----------------------------------------------------------------------------------------


def check_sampler(
    factory: Callable[..., Sampler],
    config: Any,
    model: nn.Module,
    vocabulary: Vocabulary,
    *,
    sample_format: SampleFormat | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Check a sampler factory against the ``Sampler`` contract with ``model``; returns the first result.

    Two samplers built from ``config`` sample into two empty folders under ``out_dir`` (a temporary
    folder by default), with the global random state set differently each time. Checks: each writes its
    files into its folder and returns a JSON-serialisable dict whose ``path`` names a file there; both
    write the same bytes (seeded by its config, not by global random state); the model's train/eval
    mode is left as it was.
    """
    sample_format = sample_format or SampleFormat()
    with tempfile.TemporaryDirectory() as scratch, torch.random.fork_rng(devices=[]):
        base = Path(out_dir) if out_dir is not None else Path(scratch)
        written: list[dict[str, bytes]] = []
        results: list[dict[str, Any]] = []
        for attempt, global_seed in (("first", 1), ("second", 2)):
            sampler = factory(config)
            name = f"sampler {type(sampler).__name__}"
            _expect(isinstance(sampler, Sampler), f"{name} has no sample(...) method (see seqkit.components.Sampler)")
            target = base / f"{attempt}_samples"
            target.mkdir(parents=True, exist_ok=False)
            was_training = model.training
            torch.manual_seed(global_seed)
            result = sampler.sample(model, vocabulary, target, sample_format, torch.device("cpu"))
            _expect(model.training == was_training, f"{name}.sample changed the model's train/eval mode; restore it")
            _expect(isinstance(result, dict) and "path" in result, f"{name}.sample must return a dict with 'path'")
            try:
                json.dumps(result)
            except TypeError as error:
                raise AssertionError(
                    f"{name}.sample's result must be JSON-serialisable for summary.json: {error}"
                ) from None
            path = Path(str(result["path"]))
            path = path if path.is_absolute() else target / path
            _expect(path.is_file(), f"{name}.sample returned path {result['path']!r}, but {path} is not a file")
            _expect(
                path.resolve().is_relative_to(target.resolve()),
                f"{name}.sample wrote {path} outside the out_dir it was given ({target})",
            )
            files = {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}
            written.append(files)
            results.append(result)
        _expect(
            written[0].keys() == written[1].keys(),
            f"{name}: two runs from the same config wrote different files: "
            f"{sorted(written[0])} vs {sorted(written[1])}",
        )
        for file_name, content in written[0].items():
            _expect(
                content == written[1][file_name],
                f"{name}: two samplers from the same config wrote different {file_name}; draw from a "
                "torch.Generator seeded from the config, not from global random state",
            )
    return results[0]


# -- presets -----------------------------------------------------------------------------------------


def compose_config(overrides: list[str], host: Host | None = None) -> DictConfig:
    """The config ``seqkit <overrides>`` would train; ``host`` defaults to every installed plugin, loaded strictly."""
    from hydra import compose, initialize_config_module

    from seqkit.config import register_configs

    register_configs(host if host is not None else load_host(strict=True))
    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_tiny_experiment(
    overrides: list[str], tmp_path: Path, *, max_steps: int = 4, host: Host | None = None
) -> dict[str, Any]:
    """Compose ``overrides`` as ``seqkit`` would and train ``max_steps`` steps on the CPU in ``tmp_path/run``.

    Returns the run's summary (what ``summary.json`` holds). ``host`` defaults to every installed plugin,
    loaded strictly, so a plugin that fails to load fails the test. ``overrides`` win over the tiny defaults.
    """
    from seqkit.trainer import Trainer

    host = host if host is not None else load_host(strict=True)
    tiny = [
        f"trainer.max_steps={max_steps}",
        f"trainer.val_every={max_steps}",
        "trainer.val_batches=2",
        "trainer.device=cpu",
        "trainer.progress=false",
    ]
    config = compose_config([*tiny, *overrides], host)
    with torch.random.fork_rng(devices=[]):
        return Trainer(config, host.registry, Path(tmp_path) / "run").run()
