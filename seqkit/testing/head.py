"""``check_head``: a head factory against the ``Head`` contract (loss, gradients, additive metric sums, padding)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from seqkit.components import PADDING_TARGET, DataSpec, Head
from seqkit.testing.expect import expect, shape


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
    expect(batch_size >= 2, "check_head needs batch_size >= 2 to split a batch in halves")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = factory(config, hidden_size, spec)
        name = f"head {type(head).__name__}"
        expect(isinstance(head, Head), f"the factory returned {type(head).__qualname__}, not a seqkit.components.Head")
        main = head.main_metric
        expect(isinstance(main, str) and main == main.lower(), f"{name}.main_metric {main!r} must be a lower-case str")
        generator = torch.Generator().manual_seed(1)
        hidden = torch.randn(batch_size, steps, hidden_size, generator=generator, requires_grad=True)
        targets = _random_targets(spec, batch_size, steps, generator)

        head.train()
        predictions = head(hidden)
        expect(isinstance(predictions, torch.Tensor), f"{name}.forward must return a tensor")
        expect(predictions.shape[0] == batch_size, f"{name}.forward must keep the batch first: {shape(predictions)}")
        loss = head.loss(predictions, targets)
        expect(
            isinstance(loss, torch.Tensor) and loss.ndim == 0,
            f"{name}.loss must return a scalar tensor, got {loss!r}",
        )
        expect(bool(torch.isfinite(loss)), f"{name}.loss is {loss.detach().item()} on ordinary inputs")
        expect(loss.requires_grad, f"{name}.loss has no gradient (computed under no_grad or detached?)")
        loss.backward()
        expect(
            hidden.grad is not None and bool(hidden.grad.abs().sum() > 0),
            f"{name}: no gradient reaches the hidden states, so the cells below would not learn",
        )
        for parameter_name, parameter in head.named_parameters():
            expect(parameter.grad is not None, f"{name}: parameter {parameter_name!r} gets no gradient from the loss")

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
        expect(
            set(first) == set(whole) == set(second), f"{name}.metric_sums returns different keys for different batches"
        )
        for key in whole:
            added = first[key] + second[key]
            expect(
                math.isclose(added, whole[key], rel_tol=1e-4, abs_tol=1e-6),
                f"{name}.metric_sums is not additive: {key!r} is {whole[key]:.6g} for a batch but its two halves "
                f"add up to {added:.6g}; return sums (not means), so batches and processes can be added",
            )
        metrics = head.metrics(whole)
        expect(isinstance(metrics, dict), f"{name}.metrics must return a dict")
        for key, value in metrics.items():
            expect(
                isinstance(key, str) and key == key.lower(), f"{name}.metrics: metric name {key!r} is not lower case"
            )
            expect(
                isinstance(value, int | float) and math.isfinite(value),
                f"{name}.metrics[{key!r}] is {value!r}; expected a finite number",
            )
        expect(main in metrics, f"{name}.main_metric {main!r} is not among its metrics {sorted(metrics)}")
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
        expect(
            math.isclose(got.get(key, math.nan), value, rel_tol=1e-4, abs_tol=1e-6),
            f"{name}.metric_sums counts padding: {key!r} is {got.get(key)!r} with a row of PADDING_TARGET "
            f"targets but {value:.6g} without that row; leave targets equal to PADDING_TARGET out",
        )


# -- inputs and sums ---------------------------------------------------------------------------------


def _random_targets(spec: DataSpec, batch_size: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    if spec.target_kind == "tokens":
        target_shape = (batch_size, steps) if spec.sequence_targets else (batch_size,)
        return torch.randint(0, spec.target_size, target_shape, generator=generator)
    target_shape = (batch_size, steps, spec.target_size) if spec.sequence_targets else (batch_size, spec.target_size)
    return torch.randn(target_shape, generator=generator)


def _check_sums(sums: Any, name: str) -> None:
    expect(isinstance(sums, dict), f"{name}.metric_sums must return a dict, got {type(sums).__name__}")
    expect("count" in sums, f"{name}.metric_sums must include 'count' (how many predictions were scored)")
    for key, value in sums.items():
        expect(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            f"{name}.metric_sums[{key!r}] is {value!r}; return finite Python numbers (float(tensor))",
        )
