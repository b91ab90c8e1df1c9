"""Presets: compose a config as ``seqkit`` would, and train it for a few steps on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from seqkit.host import Host, load_host


def compose_config(overrides: list[str], host: Host | None = None) -> DictConfig:
    """The config ``seqkit <overrides>`` would train; ``host`` defaults to every installed plugin, loaded strictly."""
    from hydra import compose, initialize_config_module

    from seqkit.config import register_configs

    register_configs(host if host is not None else load_host(strict=True))
    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_tiny_experiment(
    overrides: list[str], tmp_path: Path, *, max_steps: int = 4, host: Host | None = None
) -> dict[str, Any]:
    """Compose ``overrides`` as ``seqkit`` would and train ``max_steps`` steps on the CPU in ``tmp_path/run``.

    Returns the run's summary (what ``summary.json`` holds). ``host`` defaults to every installed plugin,
    loaded strictly, so a plugin that fails to load fails the test. ``overrides`` win over the tiny defaults.
    """
    from seqkit.training import train

    host = host if host is not None else load_host(strict=True)
    tiny = [
        f"trainer.max_steps={max_steps}",
        f"trainer.val_every={max_steps}",
        "trainer.val_batches=2",
        "trainer.device=cpu",
        "trainer.progress=false",
    ]
    config = compose_config([*tiny, *overrides], host)
    with torch.random.fork_rng(devices=[]):
        return train(config, host.registry, Path(tmp_path) / "run")
