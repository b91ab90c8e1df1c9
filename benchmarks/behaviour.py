"""Proves a refactoring changed no behaviour: the shipped presets' figures at a small budget, before and after.

Each preset trains for a few steps on the CPU in float32 with a fixed seed, in its own process, and the
figures of its ``summary.json`` that depend on the arithmetic (metrics, baselines, sample reports,
parameter count, steps) are collected. Record them before a change and compare after it:

    SEQKIT_DATA=../shared/data python benchmarks/behaviour.py --out /tmp/before.json
    # ... the change ...
    SEQKIT_DATA=../shared/data python benchmarks/behaviour.py --compare /tmp/before.json

Each run uses one thread and deterministic kernels: with two threads a parallel reduction may add in
another order from one run to the next, and the last bits of a figure move. On the same machine and torch
build the figures must then be bit-identical; ``--compare`` prints every figure that differs and exits 1
when any does. ``example_mgu`` needs the example plugin installed
(``pip install -e examples/seqkit-example-plugin``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Overrides every preset runs with: a small budget, no bfloat16, no progress bar, no sampling files.
COMMON = [
    "seed=0",
    "trainer.max_steps=60",
    "trainer.precision=32",
    "trainer.device=cpu",
    "trainer.deterministic=true",
    "trainer.progress=false",
]
PRESETS: dict[str, list[str]] = {
    "bach": ["sampler.num_samples=4", "sampler.length=300", "sampler.export=false"],
    "electricity": [],
    "electricity_seed": [],
    "example_mgu": [],
}
#: The parts of summary.json that the arithmetic decides (times, paths and versions are left out).
COMPARED = ("steps", "epochs", "params", "best_step", "metrics", "baselines", "samples")


def run_preset(name: str, extra: list[str], directory: Path) -> dict[str, Any]:
    """Train one preset in a fresh process and return the compared part of its summary."""
    run_dir = directory / name
    command = ["seqkit", f"+experiment={name}", *COMMON, *extra, f"hydra.run.dir={run_dir}"]
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=one_thread)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = {key: summary[key] for key in COMPARED if key in summary}
    figures.get("samples", {}).pop("path", None)
    return figures


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Every leaf that differs between two nested figure trees, as ``path: before -> after``."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += differences(before.get(key), after.get(key), f"{where}.{key}" if where else str(key))
        return found
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare the figures with this earlier JSON file")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), help="presets to run (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        figures = {name: run_preset(name, PRESETS.get(name, []), Path(directory)) for name in args.presets}
    text = json.dumps(figures, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    if args.compare:
        before = json.loads(args.compare.read_text())
        found = differences({name: before.get(name) for name in figures}, figures)
        print("\n".join(found) if found else f"identical: {', '.join(figures)}")
        sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
