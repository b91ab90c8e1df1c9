"""What a run leaves behind: ``metrics.csv``, ``summary.json``, ``loss.png``, TensorBoard events, progress.

Files are rewritten whole through a temporary file and a rename, so a reader (or an interrupted run)
never sees half a file. Progress is a tqdm bar on a terminal and plain log lines otherwise (Slurm
logs, CI, pipes), so a long run's log file shows how far it got.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)


def write_atomic(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = False) -> None:
    """Write ``path`` whole or not at all: ``write(stream)`` fills a temporary file beside it, then it is
    renamed over ``path``. ``durable`` also flushes it to disk first (checkpoints).

    Each writer gets a temporary file of its own, so two processes writing one file never mix their bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; these are ordinary files
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda stream: stream.write(text.encode("utf-8")))


def copy_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` so that a reader of ``target`` sees the old file or the new, never half."""
    with source.open("rb") as original:
        write_atomic(target, lambda stream: shutil.copyfileobj(original, stream))


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


def _parse_cell(column: str, value: str) -> Any:
    if column == "split" or value == "":
        return value
    try:
        return int(value)  # step, epoch and integer metrics read back exactly as written
    except ValueError:
        return float(value)


class TensorBoardLog:
    """Scalars mirrored to TensorBoard event files under ``run_dir/tensorboard``.

    ``purge_step`` (the step a resumed run continues from) hides events an interrupted run wrote after
    its last checkpoint, so the curves show one history.
    """

    def __init__(self, directory: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(directory), purge_step=purge_step)

    @classmethod
    def open(cls, directory: Path, purge_step: int | None = None) -> TensorBoardLog | None:
        """The log, or ``None`` with one warning line when TensorBoard is not installed."""
        try:
            return cls(directory, purge_step)
        except ImportError as error:
            log.warning("trainer.tensorboard=true but TensorBoard is unavailable (%s); pip install tensorboard", error)
            return None

    def add(self, step: int, split: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(f"{split}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MetricsLog:
    """Rows of ``step, epoch, split, <metric>...`` kept in memory and mirrored to ``metrics.csv``.

    ``enabled=False`` keeps the rows without writing anything (the non-zero ranks of a distributed run).
    """

    FIXED = ("step", "epoch", "split")

    def __init__(self, path: Path, enabled: bool = True, tensorboard: TensorBoardLog | None = None):
        self.path = path
        self.enabled = enabled
        self.tensorboard = tensorboard
        self.rows: list[dict[str, Any]] = []

    def load_until(self, step: int, source: Path | None = None) -> None:
        """Keep the rows of an interrupted run up to ``step`` (what its checkpoint covers).

        ``source`` is the interrupted run's ``metrics.csv`` when it lies elsewhere (resuming from
        another run directory); the rows are then carried over into this run's file.
        """
        source = source or self.path
        if not source.is_file():
            return
        with source.open(newline="", encoding="utf-8") as handle:
            rows = [{key: _parse_cell(key, value) for key, value in row.items()} for row in csv.DictReader(handle)]
        # Test rows close a finished run; a continued run tests again at its own end.
        self.rows = [row for row in rows if row["step"] <= step and row["split"] != "test"]
        if self.enabled:
            self._write()

    def append(self, step: int, epoch: int, split: str, metrics: dict[str, float]) -> None:
        self.rows.append({"step": step, "epoch": epoch, "split": split, **metrics})
        if self.enabled:
            self._write()
            if self.tensorboard is not None:
                self.tensorboard.add(step, split, metrics)

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
        points = [(row["step"], row.get(metric, "")) for row in self.rows if row["split"] == split]
        return [step for step, value in points if value != ""], [float(value) for _, value in points if value != ""]


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
    write_atomic(path, lambda stream: figure.savefig(stream, dpi=100, format="png"))
    plt.close(figure)


def format_metrics(metrics: dict[str, float], keys: Iterable[str] | None = None) -> str:
    chosen = keys if keys is not None else metrics.keys()
    return " ".join(f"{key}={metrics[key]:.4g}" for key in chosen if key in metrics)


class Progress:
    """A tqdm bar on a terminal; plain periodic log lines otherwise (Slurm logs, CI, pipes).

    Messages (validation results, warnings) go through ``logging`` either way, so they also reach the
    run's log file; while the bar is shown, console log lines are printed above it. ``enabled=False``
    drops the per-step display but keeps messages; ``silent=True`` drops everything (the non-zero
    ranks of a distributed run).
    """

    def __init__(self, total: int | None, enabled: bool, log_every: int, initial: int = 0, silent: bool = False):
        self.log_every = max(1, log_every)
        self.total = total
        self.started = time.monotonic()
        self.initial = initial
        self.enabled = enabled and not silent
        self.silent = silent
        self.bar = None
        self._redirect: contextlib.ExitStack | None = None
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
            self._redirect = contextlib.ExitStack()
            self._redirect.enter_context(logging_redirect_tqdm())

    def update(self, step: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)
        elif self.enabled and step % self.log_every == 0:
            log.info("%s", self.line(step, loss, lr))

    def line(self, step: int, loss: float, lr: float) -> str:
        """``step 200/1000 loss 1.234 lr 0.002 41.3 steps/s eta 19s``."""
        elapsed = time.monotonic() - self.started
        rate = (step - self.initial) / elapsed if elapsed > 0 else 0.0
        eta = f" eta {int((self.total - step) / rate)}s" if self.total and rate > 0 else ""
        of_total = f"/{self.total}" if self.total else ""
        return f"step {step}{of_total} loss {loss:.4g} lr {lr:.3g} {rate:.1f} steps/s{eta}"

    def message(self, text: str, level: int = logging.INFO) -> None:
        if not self.silent:
            log.log(level, "%s", text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._redirect is not None:
            self._redirect.close()


@contextlib.contextmanager
def progress_bar(
    total: int | None, enabled: bool, log_every: int, initial: int = 0, silent: bool = False
) -> Iterator[Progress]:
    """A :class:`Progress` that is closed however the block ends."""
    progress = Progress(total, enabled, log_every, initial, silent)
    try:
        yield progress
    finally:
        progress.close()
