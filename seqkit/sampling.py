"""``seqkit sample RUN``: a finished run's model (:func:`seqkit.inference.load_run`, no data needed) handed
to a sampler, which writes into a folder of its own inside the run (or ``out=DIR``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqkit.assemble import build_sampler, sample_format_of
from seqkit.inference import load_run, sampler_section
from seqkit.registry import Registry
from seqkit.runlog import write_json


@dataclass
class SampleRequest:
    """What ``seqkit sample RUN_DIR [key=value ...]`` asks for."""

    run_dir: Path
    checkpoint: str = "best"
    device: str = "auto"
    out_dir: Path | None = None
    sampler_overrides: list[str] = field(default_factory=list)

    @classmethod
    def from_arguments(cls, run_dir: str, arguments: list[str]) -> SampleRequest:
        request = cls(Path(run_dir))
        for argument in arguments:
            key, separator, value = argument.partition("=")
            if not separator:
                raise ValueError(f"expected KEY=VALUE, got {argument!r}")
            if key == "checkpoint":
                request.checkpoint = value
            elif key == "device":
                request.device = value
            elif key == "out":
                request.out_dir = Path(value)
            else:
                # ``temperature=0.8`` and ``sampler.temperature=0.8`` mean the same.
                request.sampler_overrides.append(f"{key.removeprefix('sampler.')}={value}")
        return request


def new_sample_dir(run_dir: Path) -> Path:
    """A folder of its own for one call, ``RUN/samples/<date_time>``, so no call overwrites another's
    samples or the run's own."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    candidate, number = run_dir / "samples" / stamp, 1
    while candidate.exists():
        number += 1
        candidate = run_dir / "samples" / f"{stamp}_{number}"
    return candidate


def sample_from_run(request: SampleRequest, registry: Registry) -> dict[str, Any]:
    """Sample with a finished run's checkpoint into ``out=DIR`` or a new ``RUN/samples/<date_time>/``.

    Writes the samples and ``samples.json`` there (never over the run's own files) and returns the report,
    with ``out_dir`` naming the folder.
    """
    run = load_run(request.run_dir, request.checkpoint, request.device, registry=registry)
    if run.vocabulary is None:
        raise ValueError(f"{run.checkpoint} holds no vocabulary: its model does not generate text")
    config = run.config.copy()
    config.sampler = sampler_section(config.get("sampler"), request.sampler_overrides, registry)
    sampler = build_sampler(config, registry)
    out_dir = request.out_dir or new_sample_dir(request.run_dir)
    if (out_dir / "samples.json").exists():
        raise ValueError(f"out={out_dir} already holds samples.json from an earlier call; choose another folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = sampler.sample(run.model, run.vocabulary, out_dir, sample_format_of(config, registry), run.device)
    report = {**report, "out_dir": str(out_dir)}
    write_json(out_dir / "samples.json", {"checkpoint": str(run.checkpoint), "device": str(run.device), **report})
    return report
