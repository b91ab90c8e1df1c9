"""The gradient checks of ``check_cell``: gradients reach every parameter, and both sequence paths agree on them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqkit.components import Cell, State
from seqkit.recurrent import run_cell, step_through_time
from seqkit.testing.expect import assert_close, expect


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


def check_gradients_reach_parameters_and_inputs(
    cell: Cell, inputs: torch.Tensor, start: State, name: str
) -> dict[str, torch.Tensor]:
    """Every parameter gets a finite, non-zero gradient through ``run_cell``, and so do the inputs; returns them."""
    through_runner, input_grad = _gradients(cell, run_cell, inputs, start, seed=2)
    for parameter_name, _ in cell.named_parameters():
        grad = through_runner.get(parameter_name)
        expect(grad is not None, f"{name}: parameter {parameter_name!r} gets no gradient; is it used in forward?")
        expect(bool(torch.isfinite(grad).all()), f"{name}: parameter {parameter_name!r} has a non-finite gradient")
        expect(bool(grad.abs().sum() > 0), f"{name}: parameter {parameter_name!r} has a zero gradient everywhere")
    expect(
        input_grad is not None and bool(input_grad.abs().sum() > 0),
        f"{name}: no gradient reaches the inputs, so a layer stacked below this one would not learn",
    )
    return through_runner


def check_sequence_gradients_match_stepping(
    cell: Cell, inputs: torch.Tensor, start: State, through_runner: dict[str, torch.Tensor], atol: float, name: str
) -> None:
    """A cell's ``forward_sequence`` gives the same parameter gradients (``through_runner``) as stepping."""
    if type(cell).forward_sequence is Cell.forward_sequence:
        return  # the default path is stepping itself
    stepwise, _ = _gradients(cell, step_through_time, inputs, start, seed=2)
    for parameter_name, grad in through_runner.items():
        assert_close(
            grad,
            stepwise[parameter_name],
            max(atol, 1e-4),
            f"{name}: gradients of {parameter_name!r} differ between forward_sequence and stepping",
        )
