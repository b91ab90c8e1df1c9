"""Shared fixtures: a host with the test plugin loaded, and Hydra composition against seqkit's configs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from seqkit.config import register_configs
from seqkit.host import Host, load_host

import toy_plugin

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data() -> Path | None:
    """The real data copies beside the repository (or in ``$SEQKIT_DATA``), when present."""
    configured = os.environ.get("SEQKIT_DATA")
    for candidate in ([Path(configured)] if configured else []) + [SHARED_DATA]:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture
def no_installed_plugins(monkeypatch):
    """Only the plugins a test defines: installed packages' entry points stay out (tests that want some fake them)."""
    monkeypatch.setenv("SEQKIT_LOAD_PLUGINS", "")


@pytest.fixture
def one_thread():
    """Tiny models on a shared machine: extra threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def overridden(base: list[str], *extra: str) -> list[str]:
    """``base`` with the keys in ``extra`` replaced (Hydra refuses the same key twice)."""
    keys = {item.split("=", 1)[0] for item in extra}
    return [item for item in base if item.split("=", 1)[0] not in keys] + list(extra)


@pytest.fixture(scope="session")
def host() -> Host:
    loaded = load_host([("toy", toy_plugin)], strict=True)
    register_configs(loaded)
    return loaded


@pytest.fixture
def compose_config(host: Host) -> Callable[..., DictConfig]:
    """``compose_config(["cell=toy_rnn", ...])``: the config ``seqkit`` would compose for those overrides."""

    def _compose(overrides: list[str]) -> DictConfig:
        with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
            return compose(config_name="config", overrides=overrides)

    return _compose


#: Overrides for a fast run on the test plugin's token data.
TOY_TOKENS = [
    "dataset=toy_tokens",
    "cell=toy_rnn",
    "head=softmax",
    "trainer.max_steps=12",
    "trainer.val_every=4",
    "trainer.progress=false",
    "trainer.device=cpu",
]
#: Overrides for a fast run on the test plugin's real-valued windows.
TOY_SERIES = [
    "dataset=toy_series",
    "cell=toy_rnn",
    "head=regression",
    "~sampler",
    "trainer.max_steps=20",
    "trainer.val_every=5",
    "trainer.progress=false",
    "trainer.device=cpu",
]


def trained(tmp_path_factory, host: Host, overrides: list[str]) -> Path:
    """A run of the composed ``overrides`` trained in a fresh directory (for module-scoped run fixtures)."""
    from seqkit.training import train

    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        config = compose(config_name="config", overrides=overrides)
    run_dir = tmp_path_factory.mktemp("run")
    train(config, host.registry, run_dir)
    return run_dir
