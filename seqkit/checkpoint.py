"""Checkpoints: written atomically, loaded with ``weights_only=True``, rejected clearly when broken.

A checkpoint is a dict of tensors and plain data only (no pickled objects), so it loads safely on any
machine and device. It is written to a temporary file beside the target and renamed over it, so a
kill while saving never leaves a half-written ``last.pt``.

This module also knows what resuming needs besides the weights: every random generator's state as
plain data, where ``trainer.resume`` points, and which parts of the config come from the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

FORMAT = "seqkit-checkpoint"
FORMAT_VERSION = 1

#: Config sections that describe the trained thing; on resume they come from the checkpoint.
RESTORED_SECTIONS: tuple[str, ...] = ("dataset", "cell", "head", "model", "optimizer")


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, truncated, or not a seqkit checkpoint."""


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a checkpoint is an ordinary file
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
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
            f"({type(error).__name__}: {_reason(error)}). Use another checkpoint (e.g. checkpoints/best.pt) "
            "or start afresh."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a seqkit checkpoint (no '{FORMAT}' marker)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer seqkit (format {payload['format_version']}); upgrade seqkit to read it"
        )
    return payload


def require_keys(payload: dict[str, Any], keys: Sequence[str], path: Path) -> None:
    """Fail naming the first missing entry, so an incomplete checkpoint is not half-restored."""
    missing = [key for key in keys if key not in payload]
    if missing:
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}: it cannot resume training (it may hold weights only); "
            "start afresh or resume from a checkpoints/last.pt written by the trainer"
        )


def _reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # torch's weights-only refusal explains itself on the line naming the offending global.
    specific = [line for line in lines if "WeightsUnpickler error" in line]
    return (specific or lines or [""])[0]


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


def overridden_keys(overrides: Sequence[str]) -> set[str]:
    """Config keys set on the command line: ``cell.hidden_size=8`` -> ``cell.hidden_size``, ``cell=gru`` -> ``cell``."""
    keys = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~").split("@", 1)[0].strip()
        if key:
            keys.add(key)
    return keys


def config_for_resume(
    config: DictConfig, stored: dict[str, Any], overrides: Sequence[str]
) -> tuple[DictConfig, list[str]]:
    """``config`` with the trained thing's sections taken from a checkpoint, except what the user overrode.

    The sections in :data:`RESTORED_SECTIONS` describe what was trained, so they come from the
    checkpoint's stored config: a resumed run keeps its model even when the command line leaves out
    the overrides that built it. A whole section chosen on the command line (``cell=gru``) or a single
    key (``optimizer.lr=1e-4``) wins over the stored value. Everything else (``trainer``, ``seed``,
    ``sampler``) is the current command's. Returns the merged config and the keys whose values came
    from the checkpoint and differ from the composed config (for the log).
    """
    keys = overridden_keys(overrides)
    merged = OmegaConf.to_container(config, resolve=True)
    changed: list[str] = []
    for section in RESTORED_SECTIONS:
        if section not in stored or section in keys:
            continue
        restored = OmegaConf.create(copy.deepcopy(stored[section]) if stored[section] is not None else {})
        for key in sorted(k for k in keys if k.startswith(f"{section}.")):
            OmegaConf.update(restored, key.removeprefix(f"{section}."), OmegaConf.select(config, key), force_add=True)
        value = OmegaConf.to_container(restored) if stored[section] is not None or len(restored) else None
        if value != merged.get(section):
            changed.append(section)
        merged[section] = value
    return OmegaConf.create(merged), changed
