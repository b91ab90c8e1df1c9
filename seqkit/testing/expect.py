"""Assertion helpers the contract checks share: each failure is an ``AssertionError`` with a readable message."""

from __future__ import annotations

import torch


def expect(condition: bool, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds (unlike ``assert``, never stripped by ``-O``)."""
    if not condition:
        raise AssertionError(message)


def shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """``tensor``'s shape as a plain tuple, so messages print ``(4, 8)`` rather than ``torch.Size([4, 8])``."""
    return tuple(tensor.shape)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str, rtol: float = 1e-4) -> None:
    """Equal up to ``atol`` plus ``rtol`` of the largest expected magnitude (float32 sums differ in order)."""
    expect(shape(actual) == shape(expected), f"{what}: shapes differ, {shape(actual)} vs {shape(expected)}")
    if not actual.numel():
        return
    difference = float((actual - expected).abs().max())
    limit = atol + rtol * float(expected.abs().max())
    expect(difference <= limit, f"{what}: largest difference {difference:.3g} exceeds {limit:.3g}")
