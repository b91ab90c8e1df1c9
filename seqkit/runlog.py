"""What a run leaves behind: ``metrics.csv``, ``summary.json``, ``loss.png``, and progress on the console.

Files are rewritten whole through a temporary file and a rename, so a reader (or an interrupted run)
never sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or infinity; a diverged metric is written as null rather than invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


class MetricsLog:
    """Rows of ``step, epoch, split, <metric>...`` kept in memory and mirrored to ``metrics.csv``."""

    FIXED = ("step", "epoch", "split")

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def load_until(self, step: int) -> None:
        """Keep the rows of an interrupted run up to ``step`` (what the checkpoint covers)."""
        if not self.path.is_file():
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if int(row["step"]) <= step:
                    self.rows.append({k: (float(v) if k not in ("split",) and v != "" else v) for k, v in row.items()})
        for row in self.rows:
            row["step"], row["epoch"] = int(row["step"]), int(row["epoch"])

    def append(self, step: int, epoch: int, split: str, metrics: dict[str, float]) -> None:
        self.rows.append({"step": step, "epoch": epoch, "split": split, **metrics})
        self._write()

    def _columns(self) -> list[str]:
        columns: list[str] = list(self.FIXED)
        for row in self.rows:
            columns.extend(key for key in row if key not in columns)
        return columns

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self._columns(), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())

    def series(self, split: str, metric: str) -> tuple[list[int], list[float]]:
        points = [(row["step"], row[metric]) for row in self.rows if row["split"] == split and row.get(metric) != ""]
        points = [(step, value) for step, value in points if value is not None]
        return [p[0] for p in points], [float(p[1]) for p in points]


def plot_loss(log: MetricsLog, path: Path) -> None:
    """``loss.png``: training and validation loss by step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for split, style in (("train", "-"), ("val", "o-")):
        steps, values = log.series(split, "loss")
        if steps:
            axis.plot(steps, values, style, label=split, markersize=3)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title("loss by step")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_metrics(metrics: dict[str, float], keys: Iterable[str] | None = None) -> str:
    chosen = keys if keys is not None else metrics.keys()
    return " ".join(f"{key}={metrics[key]:.4g}" for key in chosen if key in metrics)


class Progress:
    """A tqdm bar on a terminal; plain periodic lines otherwise (Slurm logs, CI, pipes)."""

    def __init__(self, total: int | None, enabled: bool, log_every: int, initial: int = 0):
        self.log_every = max(1, log_every)
        self.total = total
        self.started = time.monotonic()
        self.initial = initial
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def update(self, step: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)
        elif step % self.log_every == 0:
            elapsed = time.monotonic() - self.started
            rate = (step - self.initial) / elapsed if elapsed > 0 else 0.0
            eta = ""
            if self.total and rate > 0:
                eta = f" eta {int((self.total - step) / rate)}s"
            of_total = f"/{self.total}" if self.total else ""
            print(f"step {step}{of_total} loss {loss:.4g} lr {lr:.3g} {rate:.1f} steps/s{eta}", file=sys.stderr)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
