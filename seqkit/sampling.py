"""Sampling from a finished run: rebuild the model from its checkpoint alone and hand it to a sampler.

The checkpoint carries the config, the data spec and the dataset's artifacts (the vocabulary), so no
training data is needed, and ``map_location`` lets a model trained on one device sample on another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqkit.assemble import as_config, build_model, build_sampler, sample_format_of
from seqkit.checkpoint import load_checkpoint
from seqkit.components import DataSpec, Vocabulary
from seqkit.registry import Registry
from seqkit.runlog import write_json
from seqkit.runtime import resolve_device


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

    def checkpoint_path(self) -> Path:
        if self.checkpoint in ("best", "last"):
            return self.run_dir / "checkpoints" / f"{self.checkpoint}.pt"
        return Path(self.checkpoint)


def sampler_section(stored: DictConfig | None, overrides: list[str], registry: Registry) -> DictConfig:
    """The sampler config to sample with: the run's own, changed by ``overrides`` (``temperature=0.5``).

    ``name=X`` picks another sampler; the run's options then stay with the run's sampler. A run trained
    without one samples with the only sampler installed, or names the choice to make.
    """
    stored = stored if stored is not None else OmegaConf.create({})
    chosen = OmegaConf.from_dotlist(overrides)
    name = chosen.get("name") or stored.get("name")
    if name is None:
        installed = registry.names("sampler")
        if len(installed) != 1:
            raise ValueError(
                f"the run was trained without a sampler; choose one with name=NAME "
                f"(available: {registry.describe_available('sampler')})"
            )
        name = installed[0]
    kept = stored if stored.get("name") in (None, name) else {}
    return OmegaConf.merge(kept, chosen, {"name": name})


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
    device = resolve_device(request.device)
    payload = load_checkpoint(request.checkpoint_path(), map_location=device)
    config = as_config(payload["config"])
    config.sampler = sampler_section(config.get("sampler"), request.sampler_overrides, registry)
    vocabulary_data = payload.get("artifacts", {}).get("vocabulary")
    if vocabulary_data is None:
        raise ValueError(f"{request.checkpoint_path()} holds no vocabulary: its model does not generate text")
    model = build_model(config, registry, DataSpec.from_dict(payload["spec"])).to(device)
    model.load_state_dict(payload["model"])
    sampler = build_sampler(config, registry)
    out_dir = request.out_dir or new_sample_dir(request.run_dir)
    if (out_dir / "samples.json").exists():
        raise ValueError(f"out={out_dir} already holds samples.json from an earlier call; choose another folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = sampler.sample(
        model, Vocabulary.from_dict(vocabulary_data), out_dir, sample_format_of(config, registry), device
    )
    report = {**report, "out_dir": str(out_dir)}
    write_json(
        out_dir / "samples.json", {"checkpoint": str(request.checkpoint_path()), "device": str(device), **report}
    )
    return report
