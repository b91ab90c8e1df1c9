"""``check_cell``: a cell factory against the ``Cell`` contract, one small named check after another."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from seqkit.components import Cell, DataSpec, State
from seqkit.model import ModelConfig, SequenceModel
from seqkit.recurrent import RecurrentStack, run_cell, step_through_time
from seqkit.testing.cell_gradients import (
    check_gradients_reach_parameters_and_inputs,
    check_sequence_gradients_match_stepping,
)
from seqkit.testing.expect import assert_close, expect, shape
from seqkit.testing.probes import ProbeHead


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
    ``forward_sequence`` (if it has its own) matches stepping in outputs, final state and gradients, and carries
    state across calls; every parameter and the inputs get a gradient; two layers stack in a
    ``RecurrentStack``; two SGD steps of a small ``SequenceModel`` built on it lower the loss and move
    every cell parameter.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cell = factory(config, input_size)
        name = f"cell {type(cell).__name__}"
        _check_is_a_cell(cell)
        hidden_size = _check_sizes(cell, config, input_size, name)
        _check_has_parameters(cell, name)
        # One generator draws every input in a fixed order, so the same config gives the same verdict.
        generator = torch.Generator().manual_seed(1)
        cell.eval()  # the comparisons of outputs and gradients need the same numbers twice (no dropout noise)

        initial = _check_initial_state(cell, batch_size, hidden_size, name)
        x = torch.randn(batch_size, input_size, generator=generator)
        h, after = _check_step_shapes(cell, x, initial, batch_size, hidden_size, name)
        _check_step_returns_a_new_state(after, initial, name)
        _check_step_reads_its_state(cell, x, h, initial, generator, name)

        inputs = torch.randn(batch_size, steps, input_size, generator=generator)
        start = tuple(torch.randn(t.shape, generator=generator) for t in initial)
        whole = _check_sequence_matches_stepping(cell, inputs, start, hidden_size, atol, name)
        _check_state_carries_across_calls(cell, inputs, start, whole, atol, name)
        through_runner = check_gradients_reach_parameters_and_inputs(cell, inputs, start, name)
        check_sequence_gradients_match_stepping(cell, inputs, start, through_runner, atol, name)

        _check_stack(factory, config, input_size, hidden_size, inputs, name)
        _check_training(factory, config, input_size, hidden_size, name)
    return cell


# -- what the factory built --------------------------------------------------------------------------


def _check_is_a_cell(cell: Any) -> None:
    expect(
        isinstance(cell, Cell),
        f"the factory returned {type(cell).__qualname__}, which is not a seqkit.components.Cell subclass",
    )


def _check_sizes(cell: Cell, config: Any, input_size: int, name: str) -> int:
    """``input_size`` as asked, a positive ``hidden_size`` that agrees with the config (if it has one); returns it."""
    expect(
        getattr(cell, "input_size", None) == input_size,
        f"{name}: input_size is {getattr(cell, 'input_size', None)!r}, expected {input_size} (set it in __init__)",
    )
    hidden_size = getattr(cell, "hidden_size", None)
    expect(
        isinstance(hidden_size, int) and hidden_size >= 1,
        f"{name}: hidden_size is {hidden_size!r}, expected a positive int (set it in __init__)",
    )
    configured = getattr(config, "hidden_size", None)
    expect(
        configured is None or configured == hidden_size,
        f"{name}: hidden_size is {hidden_size} but its config says {configured}",
    )
    return hidden_size


def _check_has_parameters(cell: Cell, name: str) -> None:
    expect(len(list(cell.parameters())) > 0, f"{name} has no parameters; register them as nn.Parameter")


# -- one step ----------------------------------------------------------------------------------------


def _check_state(state: Any, batch_size: int, hidden_size: int, where: str) -> None:
    expect(
        isinstance(state, tuple) and len(state) >= 1 and all(isinstance(t, torch.Tensor) for t in state),
        f"{where} must be a non-empty tuple of tensors, got {type(state).__name__}",
    )
    for index, tensor in enumerate(state):
        expect(
            shape(tensor) == (batch_size, hidden_size),
            f"{where}: state[{index}] has shape {shape(tensor)}, expected (batch, hidden) = "
            f"{(batch_size, hidden_size)}",
        )
        expect(
            tensor.dtype == torch.float32, f"{where}: state[{index}] is {tensor.dtype}, expected the dtype asked for"
        )


def _check_initial_state(cell: Cell, batch_size: int, hidden_size: int, name: str) -> State:
    initial = cell.initial_state(batch_size, torch.device("cpu"), torch.float32)
    _check_state(initial, batch_size, hidden_size, f"{name}.initial_state({batch_size}, cpu, float32)")
    return initial


def _check_step_shapes(
    cell: Cell, x: torch.Tensor, initial: State, batch_size: int, hidden_size: int, name: str
) -> tuple[torch.Tensor, State]:
    """One step returns ``(h, state)``: ``h`` of shape (batch, hidden), a state shaped like the initial one."""
    with torch.no_grad():
        h, after = cell(x, initial)
    expect(isinstance(h, torch.Tensor), f"{name}.forward must return (h, state); h is {type(h).__name__}")
    expect(
        shape(h) == (batch_size, hidden_size),
        f"{name}.forward: h has shape {shape(h)}, expected (batch, hidden) = {(batch_size, hidden_size)}",
    )
    _check_state(after, batch_size, hidden_size, f"{name}.forward: the returned state")
    expect(
        len(after) == len(initial),
        f"{name}.forward returned a state of {len(after)} tensors; initial_state has {len(initial)}",
    )
    return h, after


def _check_step_returns_a_new_state(after: State, initial: State, name: str) -> None:
    expect(
        any(not torch.equal(new, old) for new, old in zip(after, initial, strict=True)),
        f"{name}.forward returned the state it was given; return the updated state",
    )


def _check_step_reads_its_state(
    cell: Cell, x: torch.Tensor, h: torch.Tensor, initial: State, generator: torch.Generator, name: str
) -> None:
    with torch.no_grad():
        other = tuple(torch.randn(t.shape, generator=generator) for t in initial)
        h_other, _ = cell(x, other)
    expect(
        not torch.allclose(h, h_other),
        f"{name}.forward gives the same output from two different states: it ignores its state",
    )


# -- a sequence --------------------------------------------------------------------------------------


def _check_sequence_matches_stepping(
    cell: Cell, inputs: torch.Tensor, start: State, hidden_size: int, atol: float, name: str
) -> torch.Tensor:
    """``run_cell`` (``forward_sequence`` where the cell has one) agrees with stepping; returns its outputs."""
    batch_size, steps, _ = inputs.shape
    with torch.no_grad():
        stepped, stepped_state = step_through_time(cell, inputs, start)
        whole, whole_state = run_cell(cell, inputs, start)
    expect(
        shape(whole) == (batch_size, steps, hidden_size),
        f"{name}: outputs over a sequence have shape {shape(whole)}, expected {(batch_size, steps, hidden_size)}",
    )
    assert_close(whole, stepped, atol, f"{name}: forward_sequence and stepping give different outputs")
    for index, (a, b) in enumerate(zip(whole_state, stepped_state, strict=True)):
        assert_close(a, b, atol, f"{name}: forward_sequence and stepping give a different final state[{index}]")
    return whole


def _check_state_carries_across_calls(
    cell: Cell, inputs: torch.Tensor, start: State, whole: torch.Tensor, atol: float, name: str
) -> None:
    middle = inputs.shape[1] // 2
    with torch.no_grad():
        first, carried = run_cell(cell, inputs[:, :middle], start)
        second, _ = run_cell(cell, inputs[:, middle:], carried)
    assert_close(
        torch.cat([first, second], dim=1),
        whole,
        atol,
        f"{name}: a sequence run in two calls (state carried) differs from one call",
    )


# -- in a model --------------------------------------------------------------------------------------


def _check_stack(
    factory: Callable, config: Any, input_size: int, hidden_size: int, inputs: torch.Tensor, name: str
) -> None:
    stack = RecurrentStack(lambda size: factory(config, size), input_size, num_layers=2)
    outputs, states = stack(inputs)
    batch_size, steps, _ = inputs.shape
    expect(
        shape(outputs) == (batch_size, steps, stack.hidden_size),
        f"{name}: two stacked layers give outputs of shape {shape(outputs)}, expected "
        f"{(batch_size, steps, stack.hidden_size)}",
    )
    expect(len(states) == 2, f"{name}: two stacked layers return {len(states)} layer states")
    for layer, state in enumerate(states):
        _check_state(state, batch_size, hidden_size, f"{name}: stacked layer {layer}'s final state")


def _check_training(factory: Callable, config: Any, input_size: int, hidden_size: int, name: str) -> None:
    spec = DataSpec("real", input_size, "real", 1)
    model = SequenceModel(
        spec, lambda size: factory(config, size), lambda width: ProbeHead(width, spec), ModelConfig(), hidden_size
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
    expect(
        math.isfinite(before) and math.isfinite(after), f"{name}: training gives a non-finite loss ({before}, {after})"
    )
    expect(after < before, f"{name}: two SGD steps on one batch did not lower the loss ({before:.6g} -> {after:.6g})")
    for key, value in model.recurrent.named_parameters():
        expect(not torch.equal(value, cell_before[key]), f"{name}: training did not change parameter {key!r}")
