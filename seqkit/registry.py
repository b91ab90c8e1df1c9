"""Name -> component tables, filled by the plugin hooks.

Lookups fail with the names that *are* available and the plugin providing each; a name registered by
two different plugins fails naming both. The plugin loader fills a :meth:`Registry.copy` per plugin and
keeps it only when all of that plugin's registrations succeeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

ComponentKind = Literal["dataset", "cell", "head", "sampler"]
KINDS: tuple[ComponentKind, ...] = ("dataset", "cell", "head", "sampler")
#: Keyword arguments ``register`` takes besides the factory and config class, by kind: the parts of a
#: dataset that a finished run needs without its data (see ``hookspecs.register_datasets``).
EXTRAS: dict[ComponentKind, tuple[str, ...]] = {"dataset": ("sample_format", "model_extension")}


class RegistryError(LookupError):
    """A component name that is unknown, registered twice, or registered with a bad config class."""


@dataclass(frozen=True)
class Component:
    """One registered component: what it is called, how to build it, its config and who provides it."""

    kind: ComponentKind
    name: str
    factory: Callable
    config_class: type
    plugin: str
    #: The keyword extras it was registered with (:data:`EXTRAS`), e.g. a dataset's ``sample_format``.
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        doc = (self.factory.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


class Registry:
    """All registered components, by kind and name."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def copy(self) -> Registry:
        """An independent registry holding the same components (the loader stages one plugin's registrations
        in a copy and keeps it only when the whole plugin registered cleanly)."""
        staged = Registry()
        staged._tables = {kind: dict(table) for kind, table in self._tables.items()}
        return staged

    def add(
        self,
        kind: ComponentKind,
        name: str,
        factory: Callable,
        config_class: type,
        plugin: str,
        extras: dict[str, Any] | None = None,
    ) -> None:
        if kind not in self._tables:
            raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        if not isinstance(name, str) or not name.isidentifier():
            raise RegistryError(f"{kind} name {name!r} from plugin {plugin!r} must be an identifier")
        if not callable(factory):
            raise RegistryError(f"{kind} {name!r} from plugin {plugin!r}: factory {factory!r} is not callable")
        if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
            raise RegistryError(f"{kind} {name!r} from plugin {plugin!r}: config class must be a dataclass")
        extras = dict(extras or {})
        unknown = sorted(set(extras) - set(EXTRAS.get(kind, ())))
        if unknown:
            accepted = ", ".join(EXTRAS.get(kind, ())) or "none"
            raise RegistryError(
                f"{kind} {name!r} from plugin {plugin!r}: register() got unknown keyword(s) {', '.join(unknown)}; "
                f"a {kind} accepts: {accepted}"
            )
        existing = self._tables[kind].get(name)
        if existing is not None:
            if existing.plugin == plugin and existing.factory is factory:
                return  # the same plugin seen twice (e.g. an editable install) is not a clash
            raise RegistryError(
                f"{kind} {name!r} is registered twice: by plugin {existing.plugin!r} and by plugin {plugin!r}"
            )
        self._tables[kind][name] = Component(kind, name, factory, config_class, plugin, extras)

    def get(self, kind: ComponentKind, name: str) -> Component:
        table = self._tables[kind]
        if name not in table:
            raise RegistryError(f"unknown {kind} {name!r}; available: {self.describe_available(kind)}")
        return table[name]

    def names(self, kind: ComponentKind) -> list[str]:
        return sorted(self._tables[kind])

    def components(self, kind: ComponentKind | None = None) -> list[Component]:
        kinds = KINDS if kind is None else (kind,)
        return [self._tables[k][n] for k in kinds for n in sorted(self._tables[k])]

    def describe_available(self, kind: ComponentKind) -> str:
        """``gru, lstm (seqkit.plugins.cells), toy (my_plugin)``: names grouped by providing plugin."""
        by_plugin: dict[str, list[str]] = {}
        for component in self.components(kind):
            by_plugin.setdefault(component.plugin, []).append(component.name)
        if not by_plugin:
            return "none (no plugin registers any)"
        return ", ".join(f"{', '.join(names)} ({plugin})" for plugin, names in sorted(by_plugin.items()))
