"""Checkpoints: written atomically, loaded with ``weights_only=True``, rejected clearly when broken.

A checkpoint is a dict of tensors and plain data only (no pickled objects), so it loads safely on any
machine and device. It is written to a temporary file beside the target and renamed over it, so a
kill while saving never leaves a half-written ``last.pt``.

This module also knows what resuming needs besides the weights: every random generator's state as
plain data, and where ``trainer.resume`` points.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqkit.errors import error_line
from seqkit.runlog import write_atomic

FORMAT = "seqkit-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, truncated, or not a seqkit checkpoint."""


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` atomically and durably (temporary file, fsync, rename)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    write_atomic(path, lambda stream: torch.save(payload, stream), durable=True)


def load_checkpoint(path: Path | str, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a seqkit checkpoint with ``weights_only=True``; a clear error when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises several types for a damaged file
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is truncated, damaged or not a seqkit checkpoint "
            f"({type(error).__name__}: {error_line(error)}). Use another checkpoint (e.g. checkpoints/best.pt) "
            "or start afresh."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seqkit checkpoint (no '{FORMAT}' marker)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer seqkit (format {payload['format_version']}); upgrade seqkit to read it"
        )
    return payload


def require_fields(payload: dict[str, Any], fields: dict[str, type], path: Path) -> None:
    """Fail naming the first missing or wrongly typed entry, so a checkpoint is never half-restored."""
    missing = [key for key in fields if key not in payload]
    if missing:
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}: it cannot resume training (it may hold weights only); "
            "start afresh or resume from a checkpoints/last.pt written by the trainer"
        )
    for key, expected in fields.items():
        if not isinstance(payload[key], expected):
            raise CheckpointError(
                f"{path}: its {key!r} entry holds a {type(payload[key]).__name__}, not a {expected.__name__}; "
                "the file was not written by seqkit's trainer (or was edited): resume from another checkpoint"
            )


# -- random generators ------------------------------------------------------------------------------


def random_states() -> dict[str, Any]:
    """Every random generator's state as plain data (Python, NumPy, torch, CUDA)."""
    python_version, python_state, python_gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": [python_version, list(python_state), python_gauss],
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(numpy_state["state"]["key"], dtype=np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
    }
    states.update(torch_random_states())
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    """Put every random generator back where :func:`random_states` found it."""
    version, state, gauss = states["python"]
    random.setstate((version, tuple(state), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        # A checkpoint from a machine with more GPUs restores the generators this machine has.
        for index, cuda_state in enumerate(states["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), index)
    if "mps" in states and torch.backends.mps.is_available():
        torch.mps.set_rng_state(states["mps"].cpu())


def torch_random_states() -> dict[str, Any]:
    """The torch generators alone: cheap enough to take before every training step."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        states["mps"] = torch.mps.get_rng_state()
    return states


@contextlib.contextmanager
def preserved_random_states() -> Iterator[None]:
    """Run a block (evaluation, sampling) without moving any random stream the training loop draws from."""
    saved = random_states()
    try:
        yield
    finally:
        restore_random_states(saved)


# -- resuming ---------------------------------------------------------------------------------------


def resume_path(resume: str | None, checkpoint_dir: Path) -> Path | None:
    """The checkpoint ``trainer.resume`` names: ``auto`` (this run's ``last.pt`` if any), a run dir or a file."""
    if resume in (None, "", "none", "null", False):
        return None
    if resume == "auto":
        last = checkpoint_dir / "last.pt"
        return last if last.is_file() else None
    path = Path(str(resume)).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    if not path.is_file():
        raise CheckpointError(
            f"trainer.resume={resume}: no checkpoint at {path}; give a run directory (with checkpoints/last.pt), "
            "a .pt file, or trainer.resume=auto"
        )
    return path
