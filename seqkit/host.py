"""The plugin manager: loads the built-in plugins, then every ``seqkit`` entry point, and fills the registry.

A plugin that fails to import or to register is reported in one line naming it and the reason, and
loading goes on; ``SEQKIT_STRICT_PLUGINS=1`` turns that into an error (tests use it). Registration is all
or nothing per plugin: its components and config folders are staged, every config it registers (component
dataclasses and YAML files) is validated, and they are kept only if all of that succeeded.
``SEQKIT_LOAD_PLUGINS=a,b`` loads only the named entry points (empty: none). ``SEQKIT_TRACE_PLUGINS=1``
prints each registration as it happens.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy

from seqkit import hookspecs
from seqkit.errors import error_line
from seqkit.registry import Component, ComponentKind, Registry

if TYPE_CHECKING:
    from seqkit.config import ConfigFile

ENTRY_POINT_GROUP = "seqkit"

#: Built-in plugins, registered first and through the same hooks as any other plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "seqkit.plugins.cells",
    "seqkit.plugins.heads",
    "seqkit.plugins.electricity",
    "seqkit.plugins.abc",
    "seqkit.plugins.sampler",
)

_COMPONENT_HOOKS: dict[ComponentKind, str] = {
    "dataset": "register_datasets",
    "cell": "register_cells",
    "head": "register_heads",
    "sampler": "register_samplers",
}


class PluginError(RuntimeError):
    """A plugin failed to load or register (raised in strict mode)."""


@dataclass
class PluginInfo:
    """What ``seqkit plugins`` shows about one loaded plugin."""

    name: str
    version: str
    source: str
    hooks: list[str] = field(default_factory=list)


@dataclass
class Host:
    """The loaded plugins, their components and configs, and what failed to load."""

    plugin_manager: pluggy.PluginManager
    registry: Registry
    plugins: dict[str, PluginInfo]
    config_dirs: list[tuple[str, Path]]
    failures: list[str]
    #: Each registered config folder's files, read and validated at load (``register_configs`` stores these).
    config_files: dict[Path, list[ConfigFile]] = field(default_factory=dict)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _new_plugin_manager() -> pluggy.PluginManager:
    plugin_manager = pluggy.PluginManager("seqkit")
    plugin_manager.add_hookspecs(hookspecs)
    return plugin_manager


def _selected_entry_points() -> Iterable[EntryPoint]:
    found = entry_points(group=ENTRY_POINT_GROUP)
    wanted = os.environ.get("SEQKIT_LOAD_PLUGINS")
    if wanted is None:
        return found
    names = {name.strip() for name in wanted.split(",") if name.strip()}
    return [entry_point for entry_point in found if entry_point.name in names]


def _module_version(module: ModuleType, entry_point: EntryPoint | None) -> str:
    if entry_point is not None and entry_point.dist is not None:
        return entry_point.dist.version
    from seqkit import __version__

    return __version__


class _Loader:
    """Collects plugins into one plugin manager, reporting (or raising on) the broken ones."""

    def __init__(self, strict: bool, trace: bool):
        self.strict = strict
        self.trace = trace
        self.plugin_manager = _new_plugin_manager()
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.config_dirs: list[tuple[str, Path]] = []
        self.config_files: dict[Path, list[ConfigFile]] = {}
        self.failures: list[str] = []

    def fail(self, plugin: str, reason: str) -> None:
        message = f'Error loading seqkit plugin "{plugin}": {reason}'
        if self.strict:
            raise PluginError(message)
        self.failures.append(message)
        print(f"seqkit: {message} (skipped)", file=sys.stderr)

    def add(self, name: str, plugin: object, version: str, source: str) -> None:
        if self.plugin_manager.is_registered(plugin):
            return  # the same plugin found twice (editable install, lib64 -> lib) is one plugin
        if name in self.plugins:
            self.fail(name, f"another plugin is already loaded under this name ({self.plugins[name].source})")
            return
        try:
            self.plugin_manager.register(plugin, name=name)
            # pluggy ignores hook implementations whose names match no spec; make a typo an error.
            self.plugin_manager.check_pending()
        except Exception as error:  # noqa: BLE001 - any failure of a plugin is reported, not fatal
            if self.plugin_manager.is_registered(plugin):
                self.plugin_manager.unregister(plugin)
            self.fail(name, error_line(error, with_type=True))
            return
        hooks = sorted(caller.name for caller in self.plugin_manager.get_hookcallers(plugin) or [])
        self.plugins[name] = PluginInfo(name, version, source, hooks)

    def add_builtin(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # noqa: BLE001
            self.fail(module_name, error_line(error, with_type=True))
            return
        self.add(module_name, module, _module_version(module, None), "built-in")

    def add_entry_point(self, entry_point: EntryPoint) -> None:
        try:
            plugin = entry_point.load()
        except Exception as error:  # noqa: BLE001
            self.fail(entry_point.name, error_line(error, with_type=True))
            return
        distribution = entry_point.dist.name if entry_point.dist is not None else "?"
        source = f"entry point {entry_point.value} ({distribution})"
        self.add(entry_point.name, plugin, _module_version(plugin, entry_point), source)

    def call_registrations(self) -> None:
        """Call every plugin's registration hooks, plugin by plugin in load order (the first provider of a
        name keeps it); each plugin's components and config folders are kept all or nothing."""
        for plugin in list(self.plugins):
            self.register_plugin(plugin)

    def _implementations(self, hook_name: str, plugin: str) -> list[pluggy.HookImpl]:
        implementations = getattr(self.plugin_manager.hook, hook_name).get_hookimpls()
        return [implementation for implementation in implementations if implementation.plugin_name == plugin]

    def register_plugin(self, plugin: str) -> None:
        """Run one plugin's hooks against a staged copy of the registry, validate every config it registered,
        and commit only if all of that passed; otherwise drop the plugin and report it."""
        staged = self.registry.copy()
        components: list[Component] = []
        directories: list[Path] = []
        problems: list[Exception] = []  # kept even if the plugin catches what ``register`` raised

        def component_register(kind: ComponentKind) -> Callable[..., None]:
            def register(name: str, factory: Callable, config_class: type, **extras) -> None:
                if self.trace:
                    print(f"seqkit: {plugin} registers {kind} {name!r}", file=sys.stderr)
                try:
                    staged.add(kind, name, factory, config_class, plugin, extras)
                except Exception as error:
                    problems.append(error)
                    raise
                components.append(staged.get(kind, name))

            return register

        def register_dir(directory: str | os.PathLike) -> None:
            path = Path(directory)
            if not path.is_dir():
                problems.append(FileNotFoundError(f"config directory {path} does not exist"))
                raise problems[-1]
            directories.append(path)

        calls = [(hook_name, component_register(kind)) for kind, hook_name in _COMPONENT_HOOKS.items()]
        calls.append(("register_config_dirs", register_dir))
        try:
            for hook_name, register in calls:
                for implementation in self._implementations(hook_name, plugin):
                    implementation.function(*[register for _ in implementation.argnames])
            if problems:
                raise problems[0]
            config_files = self._validate_configs(components, directories)
        except Exception as error:  # noqa: BLE001 - a broken plugin is reported by name, not fatal
            self.drop(plugin)
            self.fail(plugin, error_line(error, with_type=True))
            return
        self.registry = staged
        self.config_dirs.extend((plugin, path) for path in directories)
        self.config_files.update(config_files)

    @staticmethod
    def _validate_configs(components: list[Component], directories: list[Path]) -> dict[Path, list[ConfigFile]]:
        if not components and not directories:
            return {}
        from seqkit.config import read_config_dir, validate_component_config  # seqkit.config imports this module

        for component in components:
            validate_component_config(component)
        return {path: read_config_dir(path) for path in directories}

    def drop(self, plugin: str) -> None:
        """Forget a plugin that failed to register: none of its hooks runs again, ``seqkit plugins`` omits it."""
        self.plugins.pop(plugin, None)
        registered = self.plugin_manager.get_plugin(plugin)
        if registered is not None:
            self.plugin_manager.unregister(registered, name=plugin)


def load_host(
    extra_plugins: Iterable[tuple[str, object]] = (),
    *,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
    strict: bool | None = None,
) -> Host:
    """Load the built-in plugins, then the entry points, then ``extra_plugins`` (name, object) pairs.

    ``extra_plugins`` is how tests and embedding code add a plugin object without packaging it.
    """
    loader = _Loader(
        strict=_env_flag("SEQKIT_STRICT_PLUGINS") if strict is None else strict,
        trace=_env_flag("SEQKIT_TRACE_PLUGINS"),
    )
    for module_name in builtins:
        loader.add_builtin(module_name)
    for entry_point in _selected_entry_points():
        loader.add_entry_point(entry_point)
    for name, plugin in extra_plugins:
        loader.add(name, plugin, "local", "registered in code")
    loader.call_registrations()
    return Host(
        loader.plugin_manager, loader.registry, loader.plugins, loader.config_dirs, loader.failures, loader.config_files
    )
