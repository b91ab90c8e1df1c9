"""Sweep results: a Hydra callback that keeps ``sweep_results.csv`` and ``sweep_results.png`` up to date.

Every ``seqkit -m ...`` writes, in the sweep directory, one table row per job: its overrides (one column
per overridden key, and the whole override string), its status (``ok``, ``failed`` with the one-line
error, ``running``; ``unfinished`` once the sweep is over for a job that never reported back), the
value it returned to the sweeper (``objective``: the validation main metric, lower is better), its
validation and test metrics (``val_<metric>``, ``test_<metric>`` from the job's ``summary.json``), its
parameter count, steps and wall time. ``sweep_results.png`` shows the objective per job as bars.

Launchers run jobs in other processes (joblib) or on other machines (submitit), each with its own copy
of this callback. So nothing is kept in memory: each job leaves a small record in
``<sweep dir>/.sweep_jobs/<job>.json`` when it starts and when it ends, and the table is rebuilt from
those records and the jobs' ``summary.json`` files under a file lock, then written by atomic rename.
A failed job is reported on stderr the moment it ends; the other jobs go on.

Exit status of a sweep: 0 when every job ended ``ok``; 1 when any job failed (an exception, a diverged
loss), only after every job has run and the table is written. Hydra's basic sweeper runs all jobs as one
batch, then raises the first failure and prints that job's traceback (with ``hydra.sweeper.max_batch_size``
set, batches after a failing one do not run). With sweepers that tolerate failures (Optuna with
``max_failure_rate``) the search goes on and this callback turns any job that is not ``ok`` into exit
status 1 at the end. An interruption (Ctrl-C, SIGTERM) ends the whole sweep at once with 128 + signal.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from seqkit.config import override_key
from seqkit.errors import error_line
from seqkit.runlog import write_atomic, write_text_atomic

TABLE_NAME = "sweep_results.csv"
PLOT_NAME = "sweep_results.png"
RECORDS_DIR = ".sweep_jobs"

#: Columns before the per-key override columns and after them, in this order.
LEADING_COLUMNS = ("job", "status", "objective", "objective_metric")
TRAILING_COLUMNS = ("params", "steps", "wall_time_s", "error", "overrides", "job_dir")


# -- records -----------------------------------------------------------------------------------------


def override_value(override: str) -> str:
    if "=" not in override:
        return "(deleted)" if override.startswith("~") else ""
    return override.split("=", 1)[1]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or being replaced right now: the next rebuild reads it


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` where the platform and file system offer one."""
    try:
        import fcntl
    except ImportError:  # Windows: rebuilds may interleave, but atomic renames keep every file whole
        yield
        return
    with lock_path.open("a") as handle:
        # Some cluster file systems refuse locks; the atomic renames still keep every file whole.
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# -- the table ---------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def job_row(record: dict[str, Any], sweep_dir: Path) -> dict[str, Any]:
    """One table row from a job's record and, when it has one, its ``summary.json``."""
    job_dir = Path(record["job_dir"])
    summary_path = job_dir / "summary.json"
    summary = _read_json(summary_path) or {}
    started = record.get("started_at")
    if summary and started is not None and summary_path.stat().st_mtime < started - 1.0:
        summary = {}  # left by an earlier sweep into the same directory, not written by this job
    status = record["status"]
    error = record.get("error") or ""
    if status in ("ok", "running") and summary.get("status") not in (None, "completed"):
        status = str(summary["status"])  # "stopped": interrupted, its checkpoint saved for resuming
    if status != "ok" and not error and summary.get("error"):
        error = error_line(str(summary["error"]))
    overrides = list(record.get("overrides") or [])
    row: dict[str, Any] = {"job": record["job"], "status": status, "objective": record.get("objective")}
    if summary.get("main_metric"):
        row["objective_metric"] = summary["main_metric"]
    for override in overrides:
        row[override_key(override)] = override_value(override)
    metrics = summary.get("metrics") or {}
    for split in ("val", "test"):
        for name, value in (metrics.get(split) or {}).items():
            row[f"{split}_{name}"] = value
    wall_time = summary.get("wall_time_s", record.get("wall_time_s"))
    try:
        relative_dir = str(job_dir.resolve().relative_to(sweep_dir.resolve()))
    except ValueError:
        relative_dir = str(job_dir)
    row.update(
        {
            "params": summary.get("params"),
            "steps": summary.get("steps"),
            "wall_time_s": wall_time,
            "error": error,
            "overrides": " ".join(overrides),
            "job_dir": relative_dir,
        }
    )
    return row


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Fixed columns first, then override keys and metrics in order of first appearance, then the rest."""
    middle: list[str] = []
    for row in rows:
        middle.extend(key for key in row if key not in LEADING_COLUMNS + TRAILING_COLUMNS and key not in middle)
    overrides = [key for key in middle if not key.startswith(("val_", "test_"))]
    metrics = [key for key in middle if key.startswith("val_")] + [key for key in middle if key.startswith("test_")]
    return [*LEADING_COLUMNS, *overrides, *metrics, *TRAILING_COLUMNS]


def format_table(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table_columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def objective_name(rows: list[dict[str, Any]]) -> str:
    """The validation metric the jobs returned (``mse``, ``loss``): as their summaries name it, else by value."""
    named = {row["objective_metric"] for row in rows if row.get("objective_metric")}
    if len(named) == 1:
        return named.pop()
    for row in rows:
        objective = _number(row.get("objective"))
        if objective is None:
            continue
        matches = [
            key[4:]
            for key, value in row.items()
            if key.startswith("val_") and _number(value) is not None and math.isclose(value, objective)
        ]
        # A head may report its main metric under ``loss`` too (regression: loss == mse); name the specific one.
        specific = [name for name in matches if name != "loss"]
        if specific or matches:
            return (specific or matches)[0]
    return "objective"


def varying_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value differs between jobs: what tells the jobs apart."""
    keys: list[str] = []
    for row in rows:
        for override in str(row.get("overrides") or "").split():
            key = override_key(override)
            if key not in keys:
                keys.append(key)
    return [key for key in keys if len({str(row.get(key, "")) for row in rows}) > 1]


def _short(value: Any) -> str:
    """A value for a chart label: floats to 3 significant digits (``0.00889``), the rest as they are."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return text if text.lstrip("-").isdigit() else f"{number:.3g}"


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    """``sweep_results.png``: each job's objective as a bar; the best in a stronger colour, failures marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = varying_keys(rows)
    labels = ["\n".join([f"#{row['job']}", *(f"{key}={_short(row.get(key, ''))}" for key in keys)]) for row in rows]
    longest = max(len(line) for label in labels for line in label.splitlines())
    values = [_number(row.get("objective")) for row in rows]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    best = min(finite) if finite else None
    wanted_width = len(rows) * max(0.9, 0.065 * longest) + 2
    crowded = wanted_width > 30  # a long sweep: cap the width and turn the labels upright
    figure, axis = plt.subplots(figsize=(min(max(6.0, wanted_width), 30.0), 6.0 if crowded else 4.5))
    positions = list(range(len(rows)))
    heights = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
    colors = ["tab:green" if best is not None and v == best else "tab:blue" for v in values]
    axis.bar(positions, heights, color=colors)
    for position, row, value in zip(positions, rows, values, strict=True):
        if value is not None and math.isfinite(value):
            axis.annotate(f"{value:.4g}", (position, value), ha="center", va="bottom", fontsize=7)
        else:
            axis.annotate(
                str(row["status"]), (position, 0), ha="center", va="bottom", color="tab:red", rotation=90, fontsize=8
            )
    axis.set_xticks(positions, labels, fontsize=7, rotation=90 if crowded else 0)
    axis.set_ylabel(f"validation {objective_name(rows)} (lower is better)")
    ok = sum(1 for row in rows if row["status"] == "ok")
    axis.set_title(f"sweep: {len(rows)} jobs, {ok} ok, {len(rows) - ok} not ok")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    write_atomic(path, lambda stream: figure.savefig(stream, dpi=100, format="png"))
    plt.close(figure)


def read_records(sweep_dir: Path, sweep_id: str | None) -> list[dict[str, Any]]:
    """This sweep's job records (records another sweep left in the same directory are ignored)."""
    records = []
    for path in (sweep_dir / RECORDS_DIR).glob("*.json"):
        record = _read_json(path)
        if record is None or (sweep_id is not None and record.get("sweep_id") != sweep_id):
            continue
        records.append(record)
    return sorted(records, key=lambda record: int(record["job"]))


def rebuild(sweep_dir: Path, sweep_id: str | None = None, *, final: bool = False, plot: bool = True) -> list[dict]:
    """Rewrite ``sweep_results.csv`` (and the plot) from the job records; returns the rows."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / RECORDS_DIR).mkdir(exist_ok=True)
    with _locked(sweep_dir / RECORDS_DIR / "lock"):
        rows = [job_row(record, sweep_dir) for record in read_records(sweep_dir, sweep_id)]
        if final:
            for row in rows:
                if row["status"] == "running":
                    row["status"] = "unfinished"  # started but never reported back (killed, timed out)
        write_text_atomic(sweep_dir / TABLE_NAME, format_table(rows))
        if plot and rows:
            plot_results(rows, sweep_dir / PLOT_NAME)
    return rows


# -- the callback ------------------------------------------------------------------------------------


class SweepResults(Callback):
    """Hydra callback: keeps the sweep table current, reports failed jobs as they fail, sets the exit status.

    Configured in seqkit's ``config.yaml`` under ``hydra.callbacks.sweep_results``; ``plot: false``
    skips the chart. In a single run (no ``-m``) it does nothing.
    """

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot
        self.sweep_id: str | None = None
        self.started: dict[str, float] = {}
        self.sweep_dir: Path | None = None

    @staticmethod
    def _is_sweep(config: DictConfig) -> bool:
        return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN

    @staticmethod
    def _sweep_dir(config: DictConfig) -> Path:
        return Path(str(config.hydra.sweep.dir)).resolve()

    def _write_record(self, config: DictConfig, record: dict[str, Any]) -> None:
        records = self._sweep_dir(config) / RECORDS_DIR
        records.mkdir(parents=True, exist_ok=True)
        write_text_atomic(records / f"{record['job']}.json", json.dumps(record, indent=1) + "\n")

    def _record(self, config: DictConfig, status: str, **extra: Any) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "job": int(config.hydra.job.num),
            "status": status,
            "overrides": list(OmegaConf.to_container(config.hydra.overrides.task)),
            "job_dir": str(config.hydra.runtime.output_dir),
            **extra,
        }

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Launchers copy this object into their workers after this point, so every job carries the id.
        self.sweep_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}"
        self.sweep_dir = self._sweep_dir(config)
        atexit.register(self.finish_interrupted)

    def finish_interrupted(self) -> None:
        """Close the table of a sweep that exits without ``on_multirun_end`` (Ctrl-C, SIGTERM).

        Registered with ``atexit``: a job still marked running becomes ``stopped`` when its summary says
        so (its checkpoint kept for resuming), else ``unfinished``.
        """
        if self.sweep_dir is not None:
            rebuild(self.sweep_dir, self.sweep_id, final=True, plot=False)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not self._is_sweep(config):
            return
        output_dir = str(config.hydra.runtime.output_dir)
        self.started[output_dir] = time.time()
        self._write_record(config, self._record(config, "running", started_at=self.started[output_dir]))
        rebuild(self._sweep_dir(config), self.sweep_id, plot=False)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not self._is_sweep(config):
            return
        output_dir = str(config.hydra.runtime.output_dir)
        started = self.started.pop(output_dir, None)
        wall_time = round(time.time() - started, 2) if started is not None else None
        # The private field holds the exception of a failed job; the public property would re-raise it.
        returned = job_return._return_value
        if job_return.status == JobStatus.COMPLETED:
            objective = _number(returned)
            record = self._record(config, "ok", objective=objective, wall_time_s=wall_time, started_at=started)
        else:
            error = error_line(returned, with_type=True) if isinstance(returned, BaseException) else "failed"
            record = self._record(config, "failed", error=error, wall_time_s=wall_time, started_at=started)
            print(
                f"seqkit: sweep job {record['job']} failed: {error} "
                f"[{' '.join(record['overrides'])}] (job dir {output_dir})",
                file=sys.stderr,
                flush=True,
            )
        self._write_record(config, record)
        rebuild(self._sweep_dir(config), self.sweep_id, plot=self.plot)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.unregister(self.finish_interrupted)
        sweep_dir = self._sweep_dir(config)
        rows = rebuild(sweep_dir, self.sweep_id, final=True, plot=self.plot)
        not_ok = [row for row in rows if row["status"] != "ok"]
        print(
            f"seqkit: sweep finished: {len(rows) - len(not_ok)} of {len(rows)} jobs ok; "
            f"results in {sweep_dir / TABLE_NAME}",
            file=sys.stderr,
            flush=True,
        )
        if not_ok:
            listed = ", ".join(f"#{row['job']} ({row['status']})" for row in not_ok)
            print(f"seqkit: not ok: {listed}", file=sys.stderr, flush=True)
            # SystemExit passes through Hydra's callback guard (which only catches Exception).
            raise SystemExit(1)
