"""How a run ends early without losing anything: stop signals, non-finite losses, and what to tell the user.

SIGINT and SIGTERM (Ctrl-C, Slurm preemption) only ask the loop to stop: it finishes the current step,
saves ``checkpoints/last.pt`` and raises :class:`TrainingStopped` with the command that resumes. A
second signal stops at once. A non-finite loss or gradient stops the run the same way, keeping the
state from just before it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class TrainingStopped(Exception):
    """Training ended early on purpose (a signal) or by a fault (a non-finite loss); see ``status``."""

    def __init__(self, message: str, status: str, exit_code: int):
        super().__init__(message)
        self.status = status
        self.exit_code = exit_code


class StopRequests:
    """Turns SIGINT/SIGTERM into a request the loop reads between steps; a second signal interrupts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.finishing = False

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def finish(self) -> None:
        """From now on the run is only writing its summary and plot: further signals wait for that."""
        self.finishing = True

    def _request(self, signum: int, _frame: object) -> None:
        if self.finishing:
            log.warning("%s: already stopping; writing summary.json and loss.png first", signal.Signals(signum).name)
            return
        if self.signal is not None:
            raise KeyboardInterrupt  # a second signal: stop at once, without saving
        self.signal = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequests]:
        """Handle the signals inside the block and put the previous handlers back after it."""
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals reach the main thread only
            return
        previous = {sig: signal.signal(sig, self._request) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def resume_hint(run_dir: Path) -> str:
    return f"trainer.resume=auto hydra.run.dir={run_dir}"


def interrupted(signum: int | None, step: int, checkpoint: Path, run_dir: Path) -> TrainingStopped:
    """The stop after a signal (``signum``; ``None``: a stop request that reached this rank from another)."""
    name = signal.Signals(signum).name if signum else "a stop request on another rank"
    return TrainingStopped(
        f"{name} received at step {step}; checkpoint saved to {checkpoint}. "
        f"Resume with the same command plus: {resume_hint(run_dir)}",
        status="stopped",
        exit_code=128 + (signum or signal.SIGTERM),
    )


def interrupted_at_once(step: int, run_dir: Path) -> TrainingStopped:
    """The stop after a second signal, which does not wait for a checkpoint."""
    return TrainingStopped(
        f"stopped at once at step {step} by a second signal, without saving; "
        f"resume from the last checkpoint with {resume_hint(run_dir)}",
        status="stopped",
        exit_code=128 + signal.SIGINT,
    )


def nonfinite(what: str, where: str, kept: str, run_dir: Path) -> TrainingStopped:
    """The stop after a non-finite loss or gradient (``what``) at ``where``; ``kept`` says what was saved."""
    return TrainingStopped(
        f"{what} at {where}; training stopped and {kept}. Lower optimizer.lr, set trainer.grad_clip, or "
        f"resume with {resume_hint(run_dir)} trainer.nonfinite=skip to skip such batches.",
        status="failed",
        exit_code=1,
    )
