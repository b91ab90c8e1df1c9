"""Training speed of the built-in cells run through seqkit, against plain PyTorch models of the same shape.

    python benchmarks/cells.py                 # table
    python benchmarks/cells.py --json          # one JSON object per row
    python benchmarks/cells.py --compile       # also: torch.compile of the peephole step loop

A training step is forward, loss, backward and an Adam step. Each row pairs a seqkit model
(``SequenceModel`` + ``RecurrentStack`` + the registered cell factory + a one-layer linear head) with a
baseline built from ``nn.Embedding``/``nn.LSTM``/``nn.GRU``/``nn.RNN``/``nn.Linear``. The two take
turns one training step at a time, so that other load on the machine hits both alike; ``ratio`` is
the median over repeats of seqkit's tokens/s over the baseline's.

Shapes: ``char`` (vocabulary 90, embedding = hidden = 128, 2 layers, batch 50, 50 steps, cross-entropy
at every step) and ``regression`` (1 real feature, hidden 10, 1 layer, batch 100, 5 steps, MSE on the
last step). Tokens are batch x steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.components import DataSpec, Head
from seqkit.model import ModelConfig, SequenceModel
from seqkit.plugins.cells import register_cells


@dataclass(frozen=True)
class Shape:
    name: str
    vocabulary: int | None  # None: one real-valued feature per step
    hidden: int
    layers: int
    batch: int
    steps: int


SHAPES = (Shape("char", 90, 128, 2, 50, 50), Shape("regression", None, 10, 1, 100, 5))

#: (row name, registered cell, config overrides, baseline module class, baseline options)
ROWS = (
    ("rnn", "rnn", {}, nn.RNN, {}),
    ("lstm forget_bias=0", "lstm", {"forget_bias": 0.0}, nn.LSTM, {}),
    ("lstm forget_bias=1", "lstm", {"forget_bias": 1.0}, nn.LSTM, {}),
    ("gru", "gru", {}, nn.GRU, {}),
    ("peephole", "peephole", {}, nn.LSTM, {}),
    # For reference: the same cell stepped under autograd, which the hand-written backward replaces.
    ("peephole fused=false", "peephole", {"fused": False}, nn.LSTM, {}),
)


class LinearHead(Head):
    """The smallest head: a linear map, cross-entropy over every step or MSE on the last step."""

    def __init__(self, hidden_size: int, shape: Shape):
        super().__init__()
        self.tokens = shape.vocabulary is not None
        self.linear = nn.Linear(hidden_size, shape.vocabulary or 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden if self.tokens else hidden[:, -1])

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.tokens:
            return F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1))
        return F.mse_loss(predictions, targets)

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"loss": float(self.loss(predictions, targets)) * len(targets), "count": float(len(targets))}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["loss"] / sums["count"]}


class Baseline(nn.Module):
    """nn.Embedding (token inputs) + a PyTorch recurrent module + nn.Linear, batch-first."""

    def __init__(self, recurrent_class: type[nn.Module], options: dict, shape: Shape):
        super().__init__()
        self.encoder = nn.Embedding(shape.vocabulary, shape.hidden) if shape.vocabulary else nn.Identity()
        width = shape.hidden if shape.vocabulary else 1
        self.recurrent = recurrent_class(width, shape.hidden, shape.layers, batch_first=True, **options)
        self.head = LinearHead(shape.hidden, shape)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, None]:
        hidden, _ = self.recurrent(self.encoder(inputs))
        return self.head(hidden), None


def cell_factories() -> dict[str, tuple[Callable, type]]:
    """The factories and config classes exactly as the plugin registers them."""
    found: dict[str, tuple[Callable, type]] = {}
    register_cells(register=lambda name, factory, config_class: found.__setitem__(name, (factory, config_class)))
    return found


def seqkit_model(cell: str, overrides: dict, shape: Shape) -> SequenceModel:
    factory, config_class = cell_factories()[cell]
    config = config_class(hidden_size=shape.hidden, **overrides)
    if shape.vocabulary:
        spec = DataSpec("tokens", shape.vocabulary, "tokens", shape.vocabulary, sequence_targets=True)
    else:
        spec = DataSpec("real", 1, "real", 1)
    return SequenceModel(
        spec,
        lambda input_size: factory(config, input_size),
        lambda width: LinearHead(width, shape),
        ModelConfig(num_layers=shape.layers),
        shape.hidden,
    )


def make_batch(shape: Shape) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if shape.vocabulary:
        inputs = torch.randint(0, shape.vocabulary, (shape.batch, shape.steps), generator=generator)
        targets = torch.randint(0, shape.vocabulary, (shape.batch, shape.steps), generator=generator)
    else:
        inputs = torch.randn(shape.batch, shape.steps, 1, generator=generator)
        targets = torch.randn(shape.batch, 1, generator=generator)
    return inputs, targets


def training_step(model: nn.Module, loss_head: Head) -> Callable[[torch.Tensor, torch.Tensor], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        predictions, _ = model(inputs)
        loss = loss_head.loss(predictions, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def race(steps: list[Callable], batch: tuple[torch.Tensor, torch.Tensor], count: int) -> list[float]:
    """Seconds each of ``steps`` takes for ``count`` training steps, run turn by turn.

    The models take turns one training step at a time (first one first, then last one first), so a
    burst of load from other processes lands on all of them instead of on one model's whole block.
    """
    seconds = [0.0] * len(steps)
    order = list(enumerate(steps))
    for turn in range(count):
        for index, step in order if turn % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            step(*batch)
            seconds[index] += time.perf_counter() - start
    return seconds


def steps_for(shape: Shape, requested: int | None) -> int:
    # About a quarter of a second per model and repeat on a quiet machine.
    return requested or (10 if shape.vocabulary else 250)


def rates_over_repeats(steps: list[Callable], shape: Shape, repeats: int, count: int) -> list[list[float]]:
    """Tokens per second of each of ``steps``, one value per repeat, after a warm-up."""
    batch = make_batch(shape)
    race(steps, batch, max(2, count // 4))
    tokens = count * shape.batch * shape.steps
    per_repeat = [race(steps, batch, count) for _ in range(repeats)]
    return [[tokens / seconds[index] for seconds in per_repeat] for index in range(len(steps))]


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    return round(statistics.median(n / d for n, d in zip(numerators, denominators, strict=True)), 3)


def measure_row(row: tuple, shape: Shape, repeats: int, steps: int | None) -> dict:
    name, cell, overrides, recurrent_class, options = row
    torch.manual_seed(0)
    ours = seqkit_model(cell, overrides, shape)
    baseline = Baseline(recurrent_class, options, shape)
    step_ours, step_baseline = training_step(ours, ours.head), training_step(baseline, baseline.head)
    ours_rates, baseline_rates = rates_over_repeats([step_ours, step_baseline], shape, repeats, steps_for(shape, steps))
    return {
        "cell": name,
        "shape": shape.name,
        "baseline": f"nn.{recurrent_class.__name__}",
        "tokens_per_s": round(statistics.median(ours_rates), 1),
        "baseline_tokens_per_s": round(statistics.median(baseline_rates), 1),
        "ratio": median_ratio(ours_rates, baseline_rates),
        "path": ours.recurrent.layers[0].sequence_path,
    }


def measure_compiled_peephole(shape: Shape, repeats: int, steps: int | None) -> dict:
    """torch.compile of the peephole step loop (``fused: false``), against nn.LSTM and the eager fast path."""
    torch.manual_seed(0)
    compiled = seqkit_model("peephole", {"fused": False}, shape)
    eager = seqkit_model("peephole", {}, shape)
    baseline = Baseline(nn.LSTM, {}, shape)
    step_compiled = training_step(torch.compile(compiled), compiled.head)
    step_eager, step_baseline = training_step(eager, eager.head), training_step(baseline, baseline.head)
    # An empty compile cache, so the compile time is what a first run pays, not a cache hit.
    previous_cache = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        start = time.perf_counter()
        step_compiled(*make_batch(shape))  # compiles forward and backward
        compile_seconds = time.perf_counter() - start
        if previous_cache is None:
            del os.environ["TORCHINDUCTOR_CACHE_DIR"]
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous_cache
    compiled_rates, eager_rates, baseline_rates = rates_over_repeats(
        [step_compiled, step_eager, step_baseline], shape, repeats, steps_for(shape, steps)
    )
    return {
        "cell": "peephole compiled step loop",
        "shape": shape.name,
        "baseline": "nn.LSTM",
        "tokens_per_s": round(statistics.median(compiled_rates), 1),
        "baseline_tokens_per_s": round(statistics.median(baseline_rates), 1),
        "ratio": median_ratio(compiled_rates, baseline_rates),
        "ratio_to_eager_peephole": median_ratio(compiled_rates, eager_rates),
        "compile_s": round(compile_seconds, 1),
    }


TABLE_HEADER = f"{'cell':<28} {'shape':<11} {'baseline':<9} {'tokens/s':>10} {'baseline tokens/s':>18} {'ratio':>6}"


def table_line(row: dict) -> str:
    line = (
        f"{row['cell']:<28} {row['shape']:<11} {row['baseline']:<9} {row['tokens_per_s']:>10.0f} "
        f"{row['baseline_tokens_per_s']:>18.0f} {row['ratio']:>6.2f}"
    )
    if "compile_s" in row:
        line += f"   (compile {row['compile_s']} s; {row['ratio_to_eager_peephole']:.2f}x the eager peephole)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object per row")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per model (median reported)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per timing (default: by shape)")
    parser.add_argument("--shapes", nargs="+", default=[s.name for s in SHAPES], choices=[s.name for s in SHAPES])
    parser.add_argument("--cells", nargs="+", default=None, help="only rows whose cell name starts with these")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the peephole step loop")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def report(row: dict) -> None:
        print(json.dumps(row) if args.json else table_line(row), flush=True)

    if not args.json:
        print(TABLE_HEADER)
        print("-" * len(TABLE_HEADER))
    for shape in (s for s in SHAPES if s.name in args.shapes):
        for row in ROWS:
            if not args.cells or any(row[0].startswith(prefix) for prefix in args.cells):
                report(measure_row(row, shape, args.repeats, args.steps))
        if args.compile:
            report(measure_compiled_peephole(shape, args.repeats, args.steps))


if __name__ == "__main__":
    main()
