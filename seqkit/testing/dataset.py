"""``check_dataset``: a built dataset against the ``Dataset`` contract, split by split and shard by shard."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from typing import Any

import torch

from seqkit.components import PADDING_TARGET, SPLITS, Batch, Dataset, DataSpec, Vocabulary
from seqkit.testing.expect import expect, shape


def check_dataset(dataset: Any, *, world_size: int = 2) -> Any:
    """Check a built dataset against the ``Dataset`` contract; returns it.

    Checks, for every split: batches are ``Batch`` objects whose dtypes and shapes match ``dataset.spec``
    (token ids in range, real values finite, a ``(batch, time)`` context of classes in range exactly when
    ``spec.context_size`` is set); ``num_batches`` equals what ``batches`` yields; the same
    epoch gives the same batches twice; ``world_size`` shards share out the split without overlap (all of
    it for val/test, at most ``world_size - 1`` examples per batch left out of train) and every rank gets
    the same number of non-empty training batches; consecutive batches of a stateful dataset keep
    their size. ``artifacts()`` must be plain data that survives ``torch.save``/``torch.load(weights_only=True)``
    and, for token data, hold the vocabulary.
    """
    name = f"dataset {type(dataset).__name__}"
    expect(isinstance(dataset, Dataset), f"{name} must subclass seqkit.components.Dataset")
    expect(hasattr(dataset, "spec"), f"{name} has no .spec (a seqkit.components.DataSpec; see Dataset)")
    spec = dataset.spec
    expect(isinstance(spec, DataSpec), f"{name}.spec is {type(spec).__name__}, not a seqkit.components.DataSpec")
    expect(spec.input_size >= 1 and spec.target_size >= 1, f"{name}.spec sizes must be at least 1: {spec}")
    if spec.input_kind == "tokens":
        vocabulary = dataset.vocabulary
        expect(isinstance(vocabulary, Vocabulary), f"{name} has token inputs but no Vocabulary in .vocabulary")
        expect(
            len(vocabulary) == spec.input_size,
            f"{name}: the vocabulary has {len(vocabulary)} symbols but spec.input_size is {spec.input_size}",
        )
        expect(
            Vocabulary.from_dict(vocabulary.to_dict()).symbols == vocabulary.symbols,
            f"{name}: the vocabulary does not survive to_dict/from_dict",
        )

    for split in SPLITS:
        announced = dataset.num_batches(split)
        expect(
            isinstance(announced, int) and announced >= 1,
            f"{name}.num_batches({split!r}) is {announced!r}; each split needs at least one batch",
        )
        sizes = []
        for index, batch in enumerate(dataset.batches(split, 0)):
            _check_batch(batch, spec, f"{name}: {split} batch {index}")
            sizes.append(len(batch))
        expect(
            len(sizes) == announced,
            f"{name}.num_batches({split!r}) is {announced} but batches({split!r}) yielded {len(sizes)}",
        )
        if spec.stateful:
            expect(
                len(set(sizes)) == 1,
                f"{name} is stateful but its {split} batches vary in size ({sorted(set(sizes))}); the carried "
                "state needs one row per stream in every batch",
            )
        once = _epoch_keys(dataset.batches(split, 1))
        expect(
            once == _epoch_keys(dataset.batches(split, 1)),
            f"{name}: batches({split!r}, epoch=1) differ between two passes; derive any shuffling from the "
            "config's seed and the epoch, never from global random state",
        )
        _check_shards(dataset, split, world_size, name)

    artifacts = dataset.artifacts()
    expect(
        isinstance(artifacts, dict) and _is_plain(artifacts),
        f"{name}.artifacts() must be a dict of plain data (str keys; lists, numbers, strings, None)",
    )
    buffer = io.BytesIO()
    torch.save(artifacts, buffer)
    buffer.seek(0)
    expect(
        torch.load(buffer, weights_only=True) == artifacts,
        f"{name}.artifacts() does not come back equal from torch.save/torch.load(weights_only=True)",
    )
    if dataset.vocabulary is not None:
        expect(
            artifacts.get("vocabulary") == dataset.vocabulary.to_dict(),
            f"{name}.artifacts() lacks its vocabulary, which seqkit sample needs to generate without the data; "
            "put it in as {'vocabulary': self.vocabulary.to_dict(), ...} (Dataset.artifacts does by default)",
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
            expect(
                all(batches),
                f"{name}: rank {rank} of {world_size} gets an empty train batch; training on it gives a NaN loss",
            )
        step_counts.append(len(batches))
        shared.update(key for batch in batches for key in batch)
    expect(
        not shared - everything,
        f"{name}: shards of {split!r} hold examples the unsharded split does not, or the same example on "
        "more than one rank; give rank r of n a disjoint share (e.g. rows r::n)",
    )
    left_out = sum((everything - shared).values())
    if split == "train":
        expect(
            len(set(step_counts)) == 1,
            f"{name}: ranks get {step_counts} train batches; every rank must take the same number of steps",
        )
        limit = (world_size - 1) * max(len(full), 1)
        expect(left_out <= limit, f"{name}: sharding leaves {left_out} train examples unused (more than {limit})")
    else:
        expect(left_out == 0, f"{name}: sharding leaves {left_out} {split} examples to no rank; evaluate all of it")


# -- one batch ---------------------------------------------------------------------------------------


def _check_batch(batch: Any, spec: DataSpec, where: str) -> None:
    expect(isinstance(batch, Batch), f"{where} is {type(batch).__name__}, not a seqkit.components.Batch")
    inputs, targets = batch.inputs, batch.targets
    expect(
        isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor),
        f"{where}: inputs and targets must be tensors",
    )
    rows = inputs.shape[0] if inputs.ndim else 0
    expect(rows >= 1, f"{where} is empty")
    if spec.input_kind == "tokens":
        expect(inputs.dtype == torch.long, f"{where}: token inputs are {inputs.dtype}, expected torch.long")
        expect(inputs.ndim == 2, f"{where}: token inputs have shape {shape(inputs)}, expected (batch, time)")
        expect(
            bool(((inputs >= 0) & (inputs < spec.input_size)).all()),
            f"{where}: token inputs outside [0, {spec.input_size}) (spec.input_size is the vocabulary size)",
        )
    else:
        expect(inputs.is_floating_point(), f"{where}: real inputs are {inputs.dtype}, expected a float dtype")
        expect(
            inputs.ndim == 3 and inputs.shape[2] == spec.input_size,
            f"{where}: real inputs have shape {shape(inputs)}, expected (batch, time, {spec.input_size})",
        )
        expect(bool(torch.isfinite(inputs).all()), f"{where}: inputs hold NaN or infinite values")
    time_steps = inputs.shape[1]
    if spec.target_kind == "tokens":
        expected = [(rows, time_steps)] if spec.sequence_targets else [(rows,)]
        expect(targets.dtype == torch.long, f"{where}: token targets are {targets.dtype}, expected torch.long")
        real = targets[targets != PADDING_TARGET]
        expect(
            bool(((real >= 0) & (real < spec.target_size)).all()),
            f"{where}: token targets outside [0, {spec.target_size}) (and not PADDING_TARGET)",
        )
    else:
        size = spec.target_size
        if spec.sequence_targets:
            expected = [(rows, time_steps, size)] + ([(rows, time_steps)] if size == 1 else [])
        else:
            expected = [(rows, size)]
        expect(targets.is_floating_point(), f"{where}: real targets are {targets.dtype}, expected a float dtype")
        expect(bool(torch.isfinite(targets).all()), f"{where}: targets hold NaN or infinite values")
    expect(
        shape(targets) in expected,
        f"{where}: targets have shape {shape(targets)}, expected {' or '.join(map(str, expected))} for this spec",
    )
    context = batch.context
    if not spec.context_size:
        expect(context is None, f"{where} has a context but spec.context_size is 0")
        return
    expect(
        isinstance(context, torch.Tensor) and context.dtype == torch.long and shape(context) == (rows, time_steps),
        f"{where}: spec.context_size is {spec.context_size}, so batch.context must be a long tensor of shape "
        f"{(rows, time_steps)}, got {shape(context) if isinstance(context, torch.Tensor) else context!r}",
    )
    expect(
        bool(((context >= 0) & (context < spec.context_size)).all()),
        f"{where}: context classes outside [0, {spec.context_size}) (spec.context_size)",
    )


# -- comparing epochs and shards ---------------------------------------------------------------------


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


# -- artifacts ---------------------------------------------------------------------------------------


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return False
