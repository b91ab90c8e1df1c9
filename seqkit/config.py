"""Typed configuration: the host's own schemas and the ConfigStore entries made from plugins.

Every registered component's config dataclass is stored under its group (``cell/peephole``) with an
extra ``name`` field, so ``cell=peephole cell.forget_bias=1.0`` composes and a wrong key or type fails
at composition, naming the key. Config folders registered by plugins are stored the same way.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqkit.errors import error_line
from seqkit.host import Host
from seqkit.model import ModelConfig
from seqkit.registry import KINDS, Component

if TYPE_CHECKING:  # Hydra is imported when configs are stored, not when ``seqkit plugins`` validates them
    from hydra.core.config_store import ConfigStore


@dataclass
class OptimizerConfig:
    """Any ``torch.optim`` optimizer by name, and the learning-rate schedule."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    #: ``constant``; ``exponential`` (multiply by ``lr_decay`` after each epoch); ``cosine`` (to 0 at max_steps).
    schedule: str = "constant"
    lr_decay: float = 1.0


@dataclass
class TrainerConfig:
    """The generic training loop's options."""

    max_steps: int | None = None
    max_epochs: int | None = 10
    #: Validate (and checkpoint) every N optimizer steps; ``None``: at the end of each epoch.
    val_every: int | None = None
    #: Also save ``checkpoints/last.pt`` every N steps between validations (``None``: only when validating),
    #: so a hard kill (out of memory, a lost node) loses at most N steps.
    checkpoint_every: int | None = None
    #: Cap on validation batches per evaluation (``None``: the whole split; per process under torchrun).
    #: Testing always uses all.
    val_batches: int | None = None
    #: Stop after this many steps without a better validation metric (``None``: never).
    patience: int | None = None
    grad_clip: float | None = 5.0
    #: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    device: str = "auto"
    #: ``32``; ``bf16`` (autocast); ``16`` (autocast and a gradient scaler; CUDA or MPS only); ``auto``:
    #: bf16 where the device computes it in hardware (recent CPUs and CUDA GPUs), else 32.
    precision: str = "32"
    #: ``auto`` resumes from this run directory's last checkpoint when there is one; a run directory or a
    #: ``.pt`` file resumes from it. The dataset/cell/head/model/optimizer sections then come from the
    #: checkpoint, except keys set on the command line.
    resume: str | None = None
    #: Start afresh in a run directory that holds an earlier run (its checkpoints and summary are replaced).
    overwrite: bool = False
    #: What a non-finite loss or gradient does: ``stop`` (saving the state before it) or ``skip`` the batch.
    nonfinite: str = "stop"
    #: Deterministic kernels (``torch.use_deterministic_algorithms``), at some cost in speed.
    deterministic: bool = False
    log_every: int = 50
    progress: bool = True
    tensorboard: bool = False
    #: Run the sampler (if any) after testing.
    sample: bool = True
    #: From this step on, keep the running mean of the weights after each step (stochastic weight
    #: averaging, Izmailov et al. 2018): validation, checkpoints' ``model``, testing and sampling use
    #: the mean while training goes on with the raw weights. ``None``: off.
    average_from: int | None = None


@dataclass
class RunSchema:
    """The top of every composed config; component groups are typed by their own dataclasses."""

    seed: int = 0
    experiment: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    dataset: Any = None
    cell: Any = None
    head: Any = None
    sampler: Any = None


#: Optimizer presets offered as ``optimizer=<name>``.
OPTIMIZER_PRESETS: dict[str, OptimizerConfig] = {
    "adam": OptimizerConfig(name="adam", lr=2e-3),
    "adamw": OptimizerConfig(name="adamw", lr=2e-3, weight_decay=0.01),
    "adagrad": OptimizerConfig(name="adagrad", lr=0.03),
    "sgd": OptimizerConfig(name="sgd", lr=0.1, momentum=0.9),
    "rmsprop": OptimizerConfig(name="rmsprop", lr=1e-3),
}


def _class_name(config_class: type) -> str:
    return f"{config_class.__module__}.{config_class.__qualname__}"


def component_node(component: Component) -> type:
    """The component's config dataclass with a ``name`` field recording which component it configures."""
    where = f"{component.kind} {component.name!r} from plugin {component.plugin!r}: config class"
    config_class = component.config_class
    if "name" in {f.name for f in dataclasses.fields(config_class)}:
        raise TypeError(
            f"{where} {_class_name(config_class)} may not define a 'name' field; seqkit adds it (rename the field)"
        )
    return dataclasses.make_dataclass(
        config_class.__name__,
        [("name", str, field(default=component.name))],
        bases=(config_class,),
    )


def validate_component_config(component: Component) -> None:
    """Raise ``TypeError`` (one line, naming the class and field) unless the component's config class can be
    stored in the ConfigStore and composed: a plain dataclass, no ``name`` field, a default for every field,
    and field types OmegaConf supports. The plugin loader runs this for every registered component."""
    where = f"{component.kind} {component.name!r} from plugin {component.plugin!r}: config class"
    config_class = component.config_class
    class_name = _class_name(config_class)
    for config_field in dataclasses.fields(config_class):
        if config_field.default is dataclasses.MISSING and config_field.default_factory is dataclasses.MISSING:
            raise TypeError(
                f"{where} {class_name} field {config_field.name!r} has no default; give every field a default"
            )
    if config_class.__dataclass_params__.frozen:
        raise TypeError(f"{where} {class_name} is frozen; use a plain @dataclass (options are overridden)")
    node = component_node(component)
    try:
        OmegaConf.structured(node)
    except Exception as error:  # noqa: BLE001 - whatever OmegaConf refuses is reported in one line
        key = getattr(error, "full_key", None)
        at = f" field {key!r}" if key else ""
        raise TypeError(
            f"{where} {class_name}{at} cannot be stored by OmegaConf: {error_line(error)} (use int, float, bool, "
            "str, Path, an Enum, a dataclass, or a list or dict of those)"
        ) from None


@dataclass(frozen=True)
class ConfigFile:
    """One ``<group>/<name>.yaml`` of a plugin's config folder, read and checked."""

    path: Path
    group: str
    name: str
    package: str | None
    node: dict[str, Any]


def _package_header(text: str) -> str | None:
    first = text.split("\n", 1)[0].strip()
    if first.startswith("# @package"):
        return first.removeprefix("# @package").strip()
    return None


def read_config_file(path: Path) -> ConfigFile:
    """Parse one config file, or raise ``ValueError`` naming the file (and line) and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or error_line(error)
        raise ValueError(f"config file {path}{at}: {reason} (not valid YAML)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"config file {path}: cannot be read: {error_line(error)}") from None
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ValueError(
            f"config file {path}: the top level is a {type(node).__name__}, not a mapping of keys to values"
        )
    try:
        OmegaConf.create(node)
    except Exception as error:  # noqa: BLE001 - whatever OmegaConf refuses is reported in one line
        raise ValueError(f"config file {path}: OmegaConf cannot hold it: {error_line(error)}") from None
    return ConfigFile(path, path.parent.name, path.stem, _package_header(text), node)


def read_config_dir(directory: Path) -> list[ConfigFile]:
    """Every ``<group>/<name>.yaml`` below ``directory``, parsed once and checked (see :func:`read_config_file`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"config directory {directory} does not exist")
    return [read_config_file(path) for path in sorted(directory.glob("*/*.yaml"))]


def store_config_dir(store: ConfigStore, directory: Path, files: Sequence[ConfigFile] | None = None) -> None:
    """Store every ``<group>/<name>.yaml`` below ``directory`` in the ConfigStore (``files``: already read)."""
    for config_file in read_config_dir(directory) if files is None else files:
        store.store(group=config_file.group, name=config_file.name, node=config_file.node, package=config_file.package)


def register_configs(host: Host) -> None:
    """Fill Hydra's ConfigStore with the host schemas and everything the plugins registered.

    The plugin loader validated every component config and read every config folder, so this stores what it
    checked and parses nothing again.
    """
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="seqkit_schema", node=RunSchema)
    store.store(group="trainer", name="default", node=TrainerConfig)
    for preset_name, preset in OPTIMIZER_PRESETS.items():
        store.store(group="optimizer", name=preset_name, node=preset)
    for kind in KINDS:
        for component in host.registry.components(kind):
            store.store(group=kind, name=component.name, node=component_node(component))
    for _plugin, directory in host.config_dirs:
        store_config_dir(store, directory, host.config_files.get(directory))


# -- overrides and resuming ------------------------------------------------------------------------

#: Config sections that describe the trained thing; on resume they come from the checkpoint.
RESTORED_SECTIONS: tuple[str, ...] = ("dataset", "cell", "head", "model", "optimizer")


def override_key(override: str) -> str:
    """The key a command-line override sets: ``cell.hidden_size=8`` -> ``cell.hidden_size``,
    ``+experiment=bach`` -> ``experiment``, ``~sampler`` -> ``sampler``, ``cell@x=gru`` -> ``cell``."""
    return override.split("=", 1)[0].lstrip("+~").split("@", 1)[0].strip()


def config_for_resume(
    config: DictConfig, stored: dict[str, Any], overrides: Sequence[str]
) -> tuple[DictConfig, list[str]]:
    """``config`` with the trained thing's sections taken from a checkpoint, except what the user overrode.

    The sections in :data:`RESTORED_SECTIONS` describe what was trained, so they come from the
    checkpoint's stored config: a resumed run keeps its model even when the command line leaves out
    the overrides that built it. A whole section chosen on the command line (``cell=gru``) or a single
    key (``optimizer.lr=1e-4``) wins over the stored value. Everything else (``trainer``, ``seed``,
    ``sampler``) is the current command's. Returns the merged config, typed by the host's schema like a
    composed one, and the sections whose values came from the checkpoint and differ (for the log).
    """
    keys = {key for key in map(override_key, overrides) if key}
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
    return OmegaConf.merge(OmegaConf.structured(RunSchema), merged), changed


def build_config(section: DictConfig | dict, component: Component) -> Any:
    """The plugin's own dataclass instance for a config section (composed, or plain data from a checkpoint)."""
    values = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    values.pop("name", None)
    try:
        typed = OmegaConf.merge(OmegaConf.structured(component.config_class), values)
        return OmegaConf.to_object(typed)
    except OmegaConfBaseException as error:
        # OmegaConf names the key on a second line, relative to the section; say which section it is.
        key = getattr(error, "full_key", None)
        where = f"{component.kind}.{key}" if key else component.kind
        raise ValueError(f"{where}: {error_line(error)} ({component.kind} {component.name!r})") from error
