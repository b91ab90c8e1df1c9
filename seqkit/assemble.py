"""Turns a composed config into live objects: dataset, model, sampler.

The same functions rebuild a model from a checkpoint's stored config (plain data), so sampling from a
finished run needs no training data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqkit.components import Dataset, DataSpec, SampleFormat, Sampler
from seqkit.config import build_config
from seqkit.model import ModelConfig, SequenceModel
from seqkit.registry import ComponentKind, Registry


def as_config(config: DictConfig | Mapping[str, Any]) -> DictConfig:
    return config if isinstance(config, DictConfig) else OmegaConf.create(dict(config))


def component_config(config: DictConfig, kind: ComponentKind, registry: Registry) -> tuple[Any, Any]:
    """The registered component named in ``config.<kind>.name`` and its typed config instance."""
    section = config.get(kind)
    if section is None or "name" not in section:
        raise ValueError(
            f"no {kind} chosen; pick one with {kind}=NAME (available: {registry.describe_available(kind)})"
        )
    component = registry.get(kind, section.name)
    return component, build_config(section, component)


def build_dataset(config: DictConfig, registry: Registry) -> Dataset:
    component, dataset_config = component_config(config, "dataset", registry)
    return component.factory(dataset_config)


def sample_format_of(config: DictConfig, registry: Registry) -> SampleFormat:
    """The dataset's way of storing and judging samples (a plain text file when it has none)."""
    component = registry.get("dataset", config.dataset.name)
    return component.extras.get("sample_format") or SampleFormat()


def build_model(config: DictConfig | Mapping[str, Any], registry: Registry, spec: DataSpec) -> SequenceModel:
    """A ``SequenceModel`` for ``spec`` from the ``cell``, ``head`` and ``model`` sections of ``config``.

    The stack is built first and the head sized from it; the cell config's ``hidden_size`` only sets how
    wide a token embedding is when ``model.embedding_size`` leaves it open.
    """
    config = as_config(config)
    cell_component, cell_config = component_config(config, "cell", registry)
    head_component, head_config = component_config(config, "head", registry)
    hidden_size = getattr(cell_config, "hidden_size", None)
    if not isinstance(hidden_size, int):
        raise ValueError(f"cell {cell_component.name!r}: its config needs an integer 'hidden_size' field")
    model_config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), config.get("model", {})))
    return SequenceModel(
        spec,
        lambda input_size: cell_component.factory(cell_config, input_size),
        lambda width: head_component.factory(head_config, width, spec),
        model_config,
        hidden_size,
        extension_factory(config, registry, spec),
    )


def extension_factory(config: DictConfig, registry: Registry, spec: DataSpec) -> Callable[[], Any] | None:
    """What builds the dataset's model extension (its registered ``model_extension``), if it has one."""
    if config.get("dataset") is None or "name" not in config.dataset:
        return None
    component, dataset_config = component_config(config, "dataset", registry)
    make = component.extras.get("model_extension")
    return (lambda: make(dataset_config, spec)) if make is not None else None


def build_sampler(config: DictConfig, registry: Registry) -> Sampler | None:
    """The configured sampler, or ``None`` when the config has no ``sampler`` section."""
    if config.get("sampler") is None:
        return None
    if "name" not in config.sampler:
        # A preset's sampler options outlive ``~sampler``; say how to turn sampling off instead.
        raise ValueError(
            "sampler options are set but no sampler is chosen; pick one with sampler=NAME "
            f"(available: {registry.describe_available('sampler')}) or skip sampling with trainer.sample=false"
        )
    component, sampler_config = component_config(config, "sampler", registry)
    return component.factory(sampler_config)
