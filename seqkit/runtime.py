"""Where and how a run computes: the device, the number format, seeding and determinism, in one place.

``trainer.device=auto`` picks CUDA, then MPS, then the CPU; each rank of a distributed CUDA run takes
its local GPU. ``trainer.precision`` is float32, bfloat16 or float16 autocast (``auto``: bfloat16 where
the device computes it in hardware). ``trainer.deterministic`` asks for deterministic kernels.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random

import numpy as np
import torch

from seqkit.distributed import Ranks

log = logging.getLogger(__name__)


# -- the device -------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device that is not there is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda")
        elif torch.backends.mps.is_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
        log.info("trainer.device=auto chose %s", device)
        return device
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"trainer.device={name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"trainer.device={name} but CUDA is not available here; use trainer.device=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"trainer.device={name} but only {torch.cuda.device_count()} CUDA device(s) are present")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"trainer.device={name} but MPS is not available here; use trainer.device=auto or cpu")
    return device


def device_for(requested: str, ranks: Ranks) -> torch.device:
    """``trainer.device`` for this rank: each rank of a distributed CUDA run takes its local GPU."""
    device = resolve_device(requested)
    if not ranks.enabled:
        return device
    if device.type == "mps":
        raise ValueError(
            "distributed training (torchrun) does not support trainer.device=mps; use trainer.device=cpu, "
            "or run one process"
        )
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if ranks.local_rank >= count:
        raise ValueError(
            f"torchrun started local rank {ranks.local_rank} but this machine has {count} CUDA device(s); "
            f"use --nproc_per_node={count} or fewer"
        )
    if device.index is not None and device.index != ranks.local_rank:
        log.warning(
            "trainer.device=%s ignored under torchrun: rank %d uses cuda:%d", requested, ranks.rank, ranks.local_rank
        )
    torch.cuda.set_device(ranks.local_rank)
    return torch.device("cuda", ranks.local_rank)


# -- the number format ------------------------------------------------------------------------------

#: Each setting's autocast dtype (``None``: plain float32).
DTYPES: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matmuls in hardware, so that autocasting to it pays.

    On a CPU without AVX512-BF16 or AMX, PyTorch emulates bfloat16 and runs slower than in float32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        # Private probes, but the only ones PyTorch has; a build without them gets float32.
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False  # MPS: bfloat16 support depends on the OS version; float32 is the safe choice


class Precision:
    """``32``, ``bf16`` (autocast), ``16`` (autocast and a gradient scaler) or ``auto``.

    ``auto`` takes bf16 where the device computes it natively and 32 elsewhere.
    """

    def __init__(self, name: str, device: torch.device):
        if name == "auto":
            name = "bf16" if native_bfloat16(device) else "32"
            log.info("trainer.precision=auto chose %s on %s", name, device.type)
        if name not in DTYPES:
            raise ValueError(f"trainer.precision must be auto, 32, bf16 or 16; got {name!r}")
        if name == "16" and device.type == "cpu":
            raise ValueError(
                "trainer.precision=16 (float16 with gradient scaling) needs a CUDA or MPS device; "
                "on the CPU use trainer.precision=bf16 or 32"
            )
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"trainer.precision=bf16: {device} does not support bfloat16; use 16 or 32")
        self.name = name
        self.device = device
        self.dtype = DTYPES[name]
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "16")

    def autocast(self) -> contextlib.AbstractContextManager:
        """A context that runs its operations in this precision."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


# -- seeds and determinism --------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every CUDA device included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(enabled: bool) -> None:
    """``trainer.deterministic``: deterministic kernels where torch has them (a warning where it has not)."""
    if enabled:
        # cuBLAS reads this when CUDA starts; set it before any CUDA work or it has no effect.
        if torch.cuda.is_available() and torch.cuda.is_initialized() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
            log.warning("CUDA started before trainer.deterministic was applied; set CUBLAS_WORKSPACE_CONFIG=:4096:8")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    if enabled:
        torch.backends.cudnn.benchmark = False  # benchmarking picks kernels by timing, which varies
