"""An example seqkit plugin: the minimal gated unit cell, a noisy-sine data set and an experiment preset.

Everything is registered through seqkit's public hooks; seqkit finds this module through the ``seqkit``
entry-point group declared in ``pyproject.toml``.
"""

from __future__ import annotations

from pathlib import Path

from seqkit import hookimpl
from seqkit_example_plugin.mgu import MGUCell, MGUConfig
from seqkit_example_plugin.noisy_sine import NoisySine, NoisySineConfig

__all__ = ["MGUCell", "MGUConfig", "NoisySine", "NoisySineConfig"]


@hookimpl
def register_cells(register):
    register("mgu", MGUCell, MGUConfig)


@hookimpl
def register_datasets(register):
    register("noisy_sine", NoisySine, NoisySineConfig)


@hookimpl
def register_config_dirs(register):
    register(str(Path(__file__).parent / "conf"))
