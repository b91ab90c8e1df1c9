"""Training speed of ``seqkit +experiment=bach`` against a bare PyTorch loop of the same model and data.

    python benchmarks/trainer.py                              # table: 3 alternating runs of 60 steps each
    python benchmarks/trainer.py --baseline both --json       # also the minimal loop; one JSON object
    python benchmarks/trainer.py --turns step                 # the loops take turns step by step
    python benchmarks/trainer.py --steps 12 --warmup 2 --repeats 1   # a quick check that it runs
    python benchmarks/trainer.py --profile                    # where a step's time goes, seqkit against bare
    python benchmarks/trainer.py --average-from 5             # weight averaging inside the timed window

Run it from the repository root with ``SEQKIT_DATA`` pointing at the data (the Goldberg ABC files).

**seqkit** is ``train()`` in this process on the bach preset composed with ``trainer.precision=32
trainer.device=cpu trainer.max_steps=N``, with validation, sampling and testing kept out of the timed
steps (``trainer.val_every`` past N, one validation batch, no sampler). A ``step_end`` callback reads
``time.perf_counter()`` after every step and sums steps W+1 to N, so building the data (bar-clock
tagging) and the model, validating and testing fall outside; inside is all the loop does per step:
cutting the next batch, forward, loss, backward, clipping, AdamW, the schedule, the random-state
capture, metrics, callbacks. The preset averages weights only from step 400; ``--average-from K``
moves that into the window (the bare loop then keeps a ``torch.optim.swa_utils.AveragedModel`` too).

**bare** is a plain PyTorch loop written here on the same dataset object's batches (``dataset.batches
("train", epoch)``, hidden state carried and detached across batches, reset at each epoch as seqkit
does): ``nn.Embedding(vocab, 448)`` -> a 2-layer ``nn.LSTM(448, 448, batch_first=True, dropout=0.5)``
whose ``weight_hh`` get a fresh DropConnect mask (``F.dropout(w, 0.3)``) per batch before one fused
``torch._VF.lstm`` call -> ``h + tanh(Linear(h) + Embedding(52, 448)[c])`` -> dropout 0.5 ->
``nn.Linear(448, vocab)``; cross-entropy, AdamW (lr 0.002, weight decay 0.1), ``clip_grad_norm_(1.0)``,
``CosineAnnealingLR``. ``--baseline minimal`` (or ``--minimal``) times the plain Embedding +
``nn.LSTM`` + Linear loop instead (the same two dropouts, no DropConnect, no context mix); ``--baseline
both`` times both.

``--turns run`` (the default) alternates whole runs (seqkit, bare[, minimal], seqkit, ...);
``--turns step`` has each bare loop take its step inside seqkit's ``step_end`` callback, so that a burst
of load from other processes falls on both alike. Threads: ``torch.set_num_threads(2)``. Tokens/s is
batch x seq_length x (N - W) / seconds, the median over repeats; a ratio is seqkit's tokens/s over the
baseline's, the median of the per-repeat ratios. Also reported: each loop's median step (robust to
bursts of load) and, with ``--turns step``, the median of the ratios of steps taken side by side. The
1-minute load average is printed before and after every run (this process's two threads add about 2):
on a shared machine only figures taken with nothing else running mean much.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRESET = "bach"


# ---------------------------------------------------------------------------------------------------
# Composing the preset
# ---------------------------------------------------------------------------------------------------


def load_seqkit_host() -> Any:
    """Every installed plugin, with its configs in Hydra's ConfigStore."""
    from seqkit.config import register_configs
    from seqkit.host import load_host

    host = load_host()
    register_configs(host)
    return host


def compose(host: Any, overrides: list[str]) -> Any:
    """The config ``seqkit <overrides>`` would compose: ``seqkit.testing.compose_config``, or the same by hand."""
    try:
        from seqkit.testing import compose_config
    except ImportError:  # an older or a half-refactored tree: compose it as compose_config does
        from hydra import compose as hydra_compose
        from hydra import initialize_config_module

        with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    return compose_config(overrides, host)


def preset_overrides(steps: int, average_from: int | None) -> list[str]:
    """The bach preset in float32 on the CPU for ``steps`` steps, with nothing but training inside them."""
    overrides = [
        f"+experiment={PRESET}",
        "trainer.precision=32",
        "trainer.device=cpu",
        f"trainer.max_steps={steps}",
        f"trainer.val_every={steps + 1}",  # past the last step: the one validation comes after fit
        "trainer.val_batches=1",  # that validation is outside the window; keep it short
        "trainer.progress=false",
        "trainer.sample=false",
        "sampler.num_samples=1",
        "sampler.length=10",
        "sampler.export=false",
    ]
    if average_from is not None:
        overrides.append(f"trainer.average_from={average_from}")
    return overrides


# ---------------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------------


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Measurement:
    """One timed run: ``steps`` optimizer steps in ``seconds``, with the load average around it."""

    who: str
    steps: int
    tokens_per_step: int
    seconds: float
    load_before: float
    load_after: float
    #: Seconds of each timed step.
    durations: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step * self.steps / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.seconds / self.steps

    @property
    def median_ms_per_step(self) -> float:
        return 1000.0 * statistics.median(self.durations)


class StepWindow:
    """Times steps ``warmup + 1`` to ``steps`` from calls made after every optimizer step.

    ``after_step(step)`` reads the clock; ``resume()`` restarts it, so that what runs between the two
    (another loop's turn) is not counted. ``on_start`` and ``on_stop`` run at the window's edges,
    outside the timed part (profilers).
    """

    def __init__(
        self,
        warmup: int,
        steps: int,
        on_start: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ):
        self.warmup, self.steps = warmup, steps
        self.on_start, self.on_stop = on_start, on_stop
        self.seconds = 0.0
        self.durations: list[float] = []  # seconds of each timed step
        self.last: float | None = None

    def after_step(self, step: int) -> None:
        now = time.perf_counter()
        if self.warmup < step <= self.steps and self.last is not None:
            self.seconds += now - self.last
            self.durations.append(now - self.last)
        if step == self.steps and self.on_stop is not None:
            self.on_stop()
        if step == self.warmup and self.on_start is not None:
            self.on_start()
        self.last = time.perf_counter() if self.warmup <= step < self.steps else None

    def resume(self) -> None:
        if self.last is not None:
            self.last = time.perf_counter()

    def result(self) -> float:
        if len(self.durations) != self.steps - self.warmup:
            raise RuntimeError(f"timed {len(self.durations)} of {self.steps - self.warmup} steps; the run ended early")
        return self.seconds


def run_seqkit(
    host: Any, args: argparse.Namespace, window: StepWindow, after_step: Callable[[Any], None] | None = None
) -> Measurement:
    """``train()`` on the preset in a temporary directory, timed by a ``step_end`` callback.

    ``after_step(loop)`` runs in the callback after the window has read the clock (the bare loops' turns).
    """
    from seqkit.training import train

    config = compose(host, preset_overrides(args.steps, args.average_from))
    tokens = config.dataset.batch_size * config.dataset.seq_length

    def on_step_end(loop: Any) -> None:
        step = loop.progression.step
        window.after_step(step)
        if after_step is not None:
            after_step(loop)
            window.resume()

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="seqkit-bench-") as directory:
        summary = train(config, host.registry, Path(directory) / "run", callbacks={"step_end": [on_step_end]})
    if summary.get("precision") != "32":
        raise RuntimeError(f"seqkit ran in precision {summary.get('precision')!r}, not float32")
    seconds = window.result()
    return Measurement(
        "seqkit", args.steps - args.warmup, tokens, seconds, load_before, load_average(), window.durations
    )


class BareModel(nn.Module):
    """The bach model in plain PyTorch; ``minimal`` leaves out DropConnect and the context mix."""

    def __init__(
        self,
        vocabulary: int,
        context_classes: int,
        hidden: int,
        layers: int,
        dropout: float,
        head_dropout: float,
        weight_drop: float,
        minimal: bool,
    ):
        super().__init__()
        self.layers, self.dropout = layers, dropout
        self.weight_drop = 0.0 if minimal else weight_drop
        self.embedding = nn.Embedding(vocabulary, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True, dropout=dropout)
        self.mix = None if minimal else nn.Linear(hidden, hidden)
        self.context = None if minimal else nn.Embedding(context_classes, hidden)
        self.head_dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(hidden, vocabulary)

    def forward(
        self, inputs: torch.Tensor, context: torch.Tensor | None, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        encoded = self.embedding(inputs)
        if self.training and self.weight_drop:
            # DropConnect: one fresh mask on each layer's recurrent weights, then the fused kernel.
            weights = []
            for w_ih, w_hh, b_ih, b_hh in self.lstm.all_weights:
                weights += [w_ih, F.dropout(w_hh, self.weight_drop), b_ih, b_hh]
            if state is None:
                zeros = encoded.new_zeros(self.layers, inputs.shape[0], self.lstm.hidden_size)
                state = (zeros, zeros)
            hidden, h, c = torch._VF.lstm(
                encoded, state, weights, True, self.layers, self.dropout, self.training, False, True
            )
        else:
            hidden, (h, c) = self.lstm(encoded, state)
        if self.mix is not None:
            hidden = hidden + torch.tanh(self.mix(hidden) + self.context(context))
        return self.head(self.head_dropout(hidden)), (h, c)


def build_bare(config: Any, vocabulary: int, context_classes: int, minimal: bool) -> BareModel:
    torch.manual_seed(config.seed)
    return BareModel(
        vocabulary,
        context_classes,
        hidden=config.cell.hidden_size,
        layers=config.model.num_layers,
        dropout=config.model.dropout,
        head_dropout=config.head.dropout,
        weight_drop=config.cell.weight_drop,
        minimal=minimal,
    )


def bare_steps(model: BareModel, dataset: Any, config: Any, steps: int, average_from: int | None) -> Iterator[int]:
    """The plain training loop, yielding the step number after each of ``steps`` optimizer steps."""
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.optimizer.lr,
        weight_decay=config.optimizer.weight_decay,
        betas=tuple(config.optimizer.betas),
        eps=config.optimizer.eps,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    average = torch.optim.swa_utils.AveragedModel(model) if average_from is not None else None
    grad_clip = config.trainer.grad_clip
    model.train()
    step, epoch = 0, 0
    while step < steps:
        state = None  # each epoch's streams start afresh
        for batch in dataset.batches("train", epoch):
            logits, state = model(batch.inputs, batch.context, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            schedule.step()
            state = (state[0].detach(), state[1].detach())
            step += 1
            if average is not None and step >= average_from:
                average.update_parameters(model)
            yield step
            if step == steps:
                return
        epoch += 1


class BareRun:
    """One bare loop (full or minimal) on the dataset, stepped by whoever holds it."""

    def __init__(self, dataset: Any, config: Any, args: argparse.Namespace, minimal: bool):
        spec = dataset.spec
        self.who = "minimal" if minimal else "bare"
        self.tokens = config.dataset.batch_size * config.dataset.seq_length
        self.timed = args.steps - args.warmup
        model = build_bare(config, spec.input_size, spec.context_size, minimal)
        self.steps = bare_steps(model, dataset, config, args.steps, args.average_from)

    def run(self, window: StepWindow) -> Measurement:
        """All the steps at once, timed by ``window``."""
        load_before = load_average()
        for step in self.steps:
            window.after_step(step)
        seconds = window.result()
        return Measurement(self.who, self.timed, self.tokens, seconds, load_before, load_average(), window.durations)


# ---------------------------------------------------------------------------------------------------
# Speed comparison
# ---------------------------------------------------------------------------------------------------


def baselines_of(choice: str) -> list[bool]:
    """``minimal`` flags of the baselines to time."""
    return {"full": [False], "minimal": [True], "both": [False, True]}[choice]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    from seqkit.assemble import build_dataset

    host = load_seqkit_host()
    config = compose(host, preset_overrides(args.steps, args.average_from))
    dataset = build_dataset(config, host.registry)
    runs: list[Measurement] = []
    ratios: dict[str, list[float]] = {"bare": [], "minimal": []}
    paired: dict[str, list[float]] = {"bare": [], "minimal": []}  # per-step ratios, with --turns step
    for repeat in range(args.repeats):
        bares = [BareRun(dataset, config, args, minimal) for minimal in baselines_of(args.baseline)]
        if args.turns == "step":
            theirs = step_turns(host, args, bares)
            mine = theirs.pop(0)
            for run in theirs:
                paired[run.who] += [b / a for a, b in zip(mine.durations, run.durations, strict=True)]
        else:
            mine = run_seqkit(host, args, StepWindow(args.warmup, args.steps))
            theirs = [bare.run(StepWindow(args.warmup, args.steps)) for bare in bares]
        for run in (mine, *theirs):
            runs.append(run)
            report_run(repeat, run)
        for run in theirs:
            ratios[run.who].append(mine.tokens_per_s / run.tokens_per_s)
    result: dict[str, Any] = {"preset": PRESET}
    medians = {who: median_tokens(runs, who) for who in ("seqkit", "bare", "minimal")}
    result["seqkit_tokens_per_s"] = medians["seqkit"]
    for who, prefix, key in (("bare", "bare", "ratio"), ("minimal", "minimal", "minimal_ratio")):
        if ratios[who]:
            result[f"{prefix}_tokens_per_s"] = medians[who]
            result[key] = round(statistics.median(ratios[who]), 3)
    # Robust to bursts of load: the median step of each loop, and (taking turns by step) the median of
    # the ratios of steps taken side by side.
    for who in ("seqkit", "bare", "minimal"):
        durations = [d for run in runs if run.who == who for d in run.durations]
        if durations:
            result[f"{who}_median_ms_per_step"] = round(1000.0 * statistics.median(durations), 1)
    for who, key in (("bare", "step_ratio"), ("minimal", "minimal_step_ratio")):
        if paired[who]:
            result[key] = round(statistics.median(paired[who]), 3)
    result.update(
        steps=args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        turns=args.turns,
        average_from=args.average_from,
        tokens_per_step=runs[0].tokens_per_step,
        threads=torch.get_num_threads(),
        load_average_range=[min(r.load_before for r in runs), max(r.load_after for r in runs)],
        torch=str(torch.__version__),
    )
    return result


def step_turns(host: Any, args: argparse.Namespace, bares: list[BareRun]) -> list[Measurement]:
    """seqkit's run with each bare loop taking one step in its ``step_end`` callback: [seqkit, *bares]."""
    windows = [StepWindow(args.warmup, args.steps) for _ in bares]
    load_before = load_average()

    def bare_turns(loop: Any) -> None:
        step = loop.progression.step
        for bare, window in zip(bares, windows, strict=True):
            window.resume()
            window.after_step(next(bare.steps))
        if step == args.steps:
            for bare in bares:
                next(bare.steps, None)  # let the generator finish

    mine = run_seqkit(host, args, StepWindow(args.warmup, args.steps), after_step=bare_turns)
    load_after = load_average()
    theirs = [
        Measurement(bare.who, bare.timed, bare.tokens, window.result(), load_before, load_after, window.durations)
        for bare, window in zip(bares, windows, strict=True)
    ]
    return [mine, *theirs]


def median_tokens(runs: list[Measurement], who: str) -> float | None:
    values = [run.tokens_per_s for run in runs if run.who == who]
    return round(statistics.median(values)) if values else None


def report_run(repeat: int, run: Measurement) -> None:
    print(
        f"repeat {repeat + 1} {run.who:>7}: {run.tokens_per_s:9,.0f} tokens/s  {run.ms_per_step:7.1f} ms/step "
        f"(median step {run.median_ms_per_step:7.1f} ms)  "
        f"load {run.load_before:.2f} -> {run.load_after:.2f}",
        file=sys.stderr,
        flush=True,
    )


def print_table(result: dict[str, Any]) -> None:
    rows = [("seqkit", "seqkit", None, None)]
    if "bare_tokens_per_s" in result:
        rows.append(("bare (DropConnect + context mix)", "bare", "ratio", "step_ratio"))
    if "minimal_tokens_per_s" in result:
        rows.append(("minimal (Embedding + nn.LSTM + Linear)", "minimal", "minimal_ratio", "minimal_step_ratio"))
    print(
        f"preset {result['preset']}: float32, {result['threads']} threads, "
        f"steps {result['warmup'] + 1}..{result['steps']} timed, median of {result['repeats']}, "
        f"turns by {result['turns']}; load average {result['load_average_range'][0]:.2f}.."
        f"{result['load_average_range'][1]:.2f}"
    )
    print(f"| {'loop':<40} | {'tokens/s':>8} | {'steps/s':>7} | {'median step ms':>14} | {'seqkit / this':>13} |")
    print(f"|{'-' * 42}|{'-' * 9}:|{'-' * 8}:|{'-' * 15}:|{'-' * 14}:|")
    for name, who, ratio_key, step_ratio_key in rows:
        tokens = result[f"{who}_tokens_per_s"]
        ratio = f"{result[ratio_key]:.3f}" if ratio_key else ""
        if step_ratio_key in result:
            ratio += f" ({result[step_ratio_key]:.3f})"
        print(
            f"| {name:<40} | {tokens:>8,} | {tokens / result['tokens_per_step']:>7.3f} "
            f"| {result[f'{who}_median_ms_per_step']:>14.1f} | {ratio:>13} |"
        )
    if result["turns"] == "step":
        print("(in brackets: the median over steps of the ratio of steps taken side by side)")


# ---------------------------------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------------------------------


def operator_times(events: Any, steps: int) -> dict[str, dict[str, tuple[float, int]]]:
    """Self CPU ms per step and calls per step of each operator, for ``seqkit`` and for ``bare``.

    An operator belongs to the bare loop when it ran inside a ``bare step`` range, to seqkit otherwise.
    """
    sums: dict[str, dict[str, list[float]]] = {"seqkit": {}, "bare": {}}
    for event in events:
        if event.name == "bare step":
            continue
        root = event
        while root.cpu_parent is not None:
            root = root.cpu_parent
        side = sums["bare" if root.name == "bare step" else "seqkit"]
        total = side.setdefault(event.name, [0.0, 0])
        total[0] += event.self_cpu_time_total
        total[1] += 1
    return {
        who: {name: (us / 1000.0 / steps, round(count / steps)) for name, (us, count) in table.items()}
        for who, table in sums.items()
    }


def python_profile(profile: cProfile.Profile, steps: int, top: int, *restrictions: Any) -> str:
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    stats.sort_stats("tottime").print_stats(*restrictions, top)
    return f"(cProfile over {steps} steps; divide by {steps} for per step)\n" + stream.getvalue()


def profile(args: argparse.Namespace) -> None:
    """Profile ``--profile-steps`` seqkit steps, the bare loop taking a step after each; print where time goes.

    One ``torch.profiler`` session holds both (a bare step runs inside a ``bare step`` range), and two
    cProfile profiles take turns, so that load from other processes falls on both alike.
    """
    from seqkit.assemble import build_dataset

    host = load_seqkit_host()
    warmup, steps, count = args.warmup, args.warmup + args.profile_steps, args.profile_steps
    profile_args = argparse.Namespace(**{**vars(args), "steps": steps})
    config = compose(host, preset_overrides(steps, args.average_from))
    dataset = build_dataset(config, host.registry)
    bare = BareRun(dataset, config, profile_args, False)
    bare_window = StepWindow(warmup, steps)
    operators = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    seqkit_python, bare_python = cProfile.Profile(), cProfile.Profile()
    extras: dict[str, float] = {}

    def turns(loop: Any) -> None:
        step = loop.progression.step
        seqkit_python.disable()
        profiled = warmup < step <= steps
        bare_window.resume()
        if profiled:
            bare_python.enable()
        with torch.profiler.record_function("bare step"):
            bare_window.after_step(next(bare.steps))
        bare_python.disable()
        if step == warmup:
            operators.__enter__()
        elif step == steps:
            operators.__exit__(None, None, None)
            next(bare.steps, None)
            extras.update(loop_costs(loop))
        if warmup <= step < steps:
            seqkit_python.enable()

    seqkit_run = run_seqkit(host, profile_args, StepWindow(warmup, steps), after_step=turns)
    bare_ms = 1000.0 * bare_window.result() / count
    print(f"profiled {count} steps of each loop, taking turns (profilers on: the times are inflated by them)")
    print(f"seqkit {seqkit_run.ms_per_step:.1f} ms/step, bare {bare_ms:.1f} ms/step")
    print(f"load average {seqkit_run.load_before:.2f} -> {seqkit_run.load_after:.2f}\n")

    tables = operator_times(operators.events(), count)
    ours, base = tables["seqkit"], tables["bare"]
    keys = sorted(set(ours) | set(base), key=lambda k: -max(ours.get(k, (0, 0))[0], base.get(k, (0, 0))[0]))
    print("Operators by self CPU time, ms per step (calls per step)")
    print(f"| {'operator':<52} | {'seqkit':>15} | {'bare':>15} | {'difference':>10} |")
    print(f"|{'-' * 54}|{'-' * 16}:|{'-' * 16}:|{'-' * 11}:|")
    for key in keys[: args.profile_top]:
        ms_ours, calls_ours = ours.get(key, (0.0, 0))
        ms_base, calls_base = base.get(key, (0.0, 0))
        print(
            f"| {key[:52]:<52} | {ms_ours:8.2f} ({calls_ours:>4}) | {ms_base:8.2f} ({calls_base:>4}) "
            f"| {ms_ours - ms_base:+10.2f} |"
        )
    total_ours = sum(ms for ms, _ in ours.values())
    total_base = sum(ms for ms, _ in base.values())
    print(f"| {'all operators':<52} | {total_ours:15.2f} | {total_base:15.2f} | {total_ours - total_base:+10.2f} |")
    only = [key for key in ours if key not in base] + [key for key in base if key not in ours]
    if only:
        print("operators in one loop only: " + ", ".join(sorted(only)))
    print("\nseqkit, Python functions by own time")
    print(python_profile(seqkit_python, count, args.profile_top))
    print("seqkit, its own functions (seqkit/ and plugins/) by own time")
    print(python_profile(seqkit_python, count, args.profile_top, r"seqkit/|plugins/"))
    print("bare, Python functions by own time")
    print(python_profile(bare_python, count, args.profile_top))
    print("seqkit's extras, timed alone (ms per call, median)")
    extras.update(micro_costs(host, config, dataset))
    for name, ms in extras.items():
        print(f"  {name:<66} {ms:9.3f}")


def loop_costs(loop: Any) -> dict[str, float]:
    """What a full run does every ``trainer.val_every`` steps, timed on the live loop (median of 3)."""
    costs = {
        "loop.evaluate('val', max_batches=1)": timed(lambda: loop.evaluate("val", 1), 3, 1),
        "loop.evaluate('val'), the whole split (every trainer.val_every steps)": timed(
            lambda: loop.evaluate("val"), 3, 1
        ),
    }
    costs["checkpointer.save('last.pt', also_best=True) (every val_every steps)"] = timed(
        lambda: loop.checkpointer.save("last.pt", also_best=True), 3, 1
    )
    return costs


def timed(function: Callable[[], Any], repeats: int = 200, warmup: int = 5) -> float:
    """Median ms per call of ``function`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(samples)


def micro_costs(host: Any, config: Any, dataset: Any) -> dict[str, float]:
    """What the seqkit loop does per step that a bare loop need not, each timed on its own."""
    from seqkit.assemble import build_model
    from seqkit.checkpoint import torch_random_states
    from seqkit.runlog import MetricsLog
    from seqkit.training.optim import WeightAverage

    torch.manual_seed(config.seed)
    model = build_model(config, host.registry, dataset.spec)
    model.train()
    cell = model.recurrent.layers[0]
    costs: dict[str, float] = {}

    batches: Iterator[Any] = iter(())

    def next_batch() -> None:
        nonlocal batches
        batch = next(batches, None)
        if batch is None:
            batches = iter(dataset.batches("train", 0))
            next(batches)

    costs["next(dataset.batches('train')) (cut one batch + context)"] = timed(next_batch)
    costs["build a fresh dataset.batches('train') iterator"] = timed(lambda: dataset.batches("train", 0))
    costs["torch_random_states()"] = timed(torch_random_states)
    costs["cell._recurrent_weight() (DropConnect mask), one layer"] = timed(cell._recurrent_weight)
    costs["bias_ih + forget_bias_offset, one layer"] = timed(lambda: cell.bias_ih + cell.forget_bias_offset)
    parameters = list(model.parameters())
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    costs["[p for p in model.parameters() if p.grad is not None]"] = timed(
        lambda: [p for p in model.parameters() if p.grad is not None]
    )
    costs["float(clip_grad_norm_(parameters, 1.0))"] = timed(
        lambda: float(torch.nn.utils.clip_grad_norm_(parameters, 1.0))
    )
    average = WeightAverage(model, 1)
    average.update(model, 1)  # the first call copies; later ones average
    costs["WeightAverage.update (from trainer.average_from on)"] = timed(lambda: average.update(model, 2), 50)
    with tempfile.TemporaryDirectory(prefix="seqkit-bench-") as directory:
        metrics = MetricsLog(Path(directory) / "metrics.csv")
        for step in range(16):  # the rows a run of 800 steps logs at log_every=50
            metrics.append(step * 50, 0, "train", {"loss": 1.0, "lr": 0.002, "grad_norm": 1.0})
        costs["MetricsLog.append with 16 rows (every trainer.log_every steps)"] = timed(
            lambda: metrics.append(800, 0, "train", {"loss": 1.0, "lr": 0.002, "grad_norm": 1.0}), 20
        )
    return costs


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=positive, default=60, help="optimizer steps per run (N)")
    parser.add_argument("--warmup", type=int, default=10, help="steps before the timed window (W, at least 1)")
    parser.add_argument("--repeats", type=positive, default=3, help="alternating runs of each loop")
    parser.add_argument(
        "--baseline",
        choices=("full", "minimal", "both"),
        default="full",
        help="full: the bare loop with DropConnect and the context mix; minimal: Embedding + nn.LSTM + Linear",
    )
    parser.add_argument("--minimal", action="store_true", help="the same as --baseline minimal")
    parser.add_argument(
        "--average-from",
        type=positive,
        default=None,
        help="trainer.average_from for seqkit (and an AveragedModel in the bare loop); default: the preset's",
    )
    parser.add_argument(
        "--turns",
        choices=("run", "step"),
        default="run",
        help="run: whole runs alternate; step: the bare loops take one step in each seqkit step_end callback",
    )
    parser.add_argument("--threads", type=positive, default=2, help="torch.set_num_threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--profile", action="store_true", help="profile seqkit and bare steps instead of timing")
    parser.add_argument("--profile-steps", type=positive, default=20, help="steps profiled with --profile")
    parser.add_argument("--profile-top", type=positive, default=30, help="rows of each profile table")
    args = parser.parse_args(argv)
    if args.minimal:
        args.baseline = "minimal"
    if not 1 <= args.warmup < args.steps:
        # The clock starts at the end of step W, so at least one step runs before it.
        parser.error(f"--warmup must be at least 1 and below --steps; got {args.warmup} and {args.steps}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if "SEQKIT_DATA" not in os.environ:
        print("note: SEQKIT_DATA is not set; the Goldberg files are looked up in the default place", file=sys.stderr)
    if args.profile:
        profile(args)
        return
    result = compare(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
