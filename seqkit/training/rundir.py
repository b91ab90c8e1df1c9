"""Owning a run directory: one process at a time, and nothing a run left there lost without an explicit choice.

A run holds an OS lock on ``RUN/.seqkit.lock`` while it trains; a second run started into the same
directory stops at once, naming the holder's process id. The lock goes with the process however it
ends (even ``kill -9``), and the temporary files such a kill leaves beside a half-written file are
cleared by the next run that takes the lock. A directory that holds a finished or interrupted run is
never trained into afresh unless the command says so (``trainer.resume=auto`` or ``trainer.overwrite=true``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".seqkit.lock"


class RunDirectoryError(RuntimeError):
    """A run directory that cannot be used as asked: in use, not a directory, or holding a run."""


@contextlib.contextmanager
def owned(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; fail at once when another process holds it."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(f"the run directory {run_dir} is a file; choose another hydra.run.dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows has no flock; runs there are not protected against each other
        yield
        return
    handle = (run_dir / LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunDirectoryError(
                f"{run_dir} is in use by {holder}; wait for it to end or choose another hydra.run.dir"
            ) from None
        except OSError as error:
            # Some cluster file systems refuse locks: go on unprotected rather than not at all.
            log.warning("cannot lock %s (%s); nothing stops another run writing into it meanwhile", run_dir, error)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        remove_stale_temporaries(run_dir)
        yield
    finally:
        handle.close()  # closing releases the lock


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the ``.<name>.<random>.tmp`` files a killed writer left in ``run_dir`` and its checkpoints."""
    stale = [path for folder in (run_dir, run_dir / "checkpoints") for path in folder.glob(".*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info(
            "removed %d temporary file(s) an interrupted writer left: %s", len(stale), ", ".join(p.name for p in stale)
        )
    return stale


def describe_run(run_dir: Path) -> str | None:
    """What ``run_dir`` holds of an earlier run (``None``: nothing to lose), for the messages below."""
    checkpoints = sorted(path.name for path in (run_dir / "checkpoints").glob("*.pt"))
    summary_path = run_dir / "summary.json"
    if not checkpoints and not summary_path.is_file():
        return None
    held = [f"checkpoints/{name}" for name in checkpoints]
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        held.append(f"summary.json ({summary.get('status', '?')} at step {summary.get('steps', '?')})")
    return ", ".join(held)


def check_fresh_start(run_dir: Path, resume: str | None, overwrite: bool) -> None:
    """Refuse to start afresh over an earlier run unless ``trainer.overwrite=true`` says so.

    A fresh start is ``trainer.resume`` unset, or ``auto`` where no ``checkpoints/last.pt`` is left to
    resume from (a finished run whose ``last.pt`` went missing, say).
    """
    held = describe_run(run_dir)
    if held is None or overwrite:
        if held is not None:
            log.warning("%s held %s; trainer.overwrite=true starts afresh over it", run_dir, held)
        return
    best = run_dir / "checkpoints" / "best.pt"
    if resume == "auto" and best.is_file():
        raise RunDirectoryError(
            f"{run_dir} has no checkpoints/last.pt to resume but holds {held}; continue from its best "
            f"checkpoint with trainer.resume={best}, or start afresh over it with trainer.overwrite=true"
        )
    raise RunDirectoryError(
        f"{run_dir} holds an earlier run ({held}); continue it with trainer.resume=auto, start afresh over "
        "it with trainer.overwrite=true, or choose another hydra.run.dir"
    )
