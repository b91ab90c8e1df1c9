"""``trainer.precision``: the number format training and evaluation run in, and ``auto``'s choice of it."""

from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger(__name__)

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
