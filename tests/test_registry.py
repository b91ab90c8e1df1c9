"""The registry: lookups by kind and name, and errors that name what is available and who provides it."""

from dataclasses import dataclass

import pytest

from seqkit.registry import Registry, RegistryError


@dataclass
class Options:
    hidden_size: int = 4


def make(config, input_size):
    """A factory whose first docstring line describes it."""
    return (config, input_size)


def other_make(config, input_size):
    return None


def test_get_returns_the_registered_component():
    registry = Registry()
    registry.add("cell", "tiny", make, Options, "my_plugin")
    component = registry.get("cell", "tiny")
    assert (component.name, component.factory, component.config_class, component.plugin) == (
        "tiny",
        make,
        Options,
        "my_plugin",
    )
    assert component.describe() == "A factory whose first docstring line describes it."


def test_unknown_name_lists_available_names_and_their_plugins():
    registry = Registry()
    registry.add("cell", "lstm", make, Options, "seqkit.plugins.cells")
    registry.add("cell", "gru", other_make, Options, "seqkit.plugins.cells")
    registry.add("cell", "toy", make, Options, "toy_plugin")
    with pytest.raises(RegistryError) as error:
        registry.get("cell", "lstmm")
    assert str(error.value) == "unknown cell 'lstmm'; available: gru, lstm (seqkit.plugins.cells), toy (toy_plugin)"


def test_unknown_name_when_nothing_is_registered():
    with pytest.raises(RegistryError, match="available: none"):
        Registry().get("sampler", "text")


def test_same_name_from_two_plugins_names_both():
    registry = Registry()
    registry.add("dataset", "abc", make, Options, "seqkit.plugins.abc")
    with pytest.raises(RegistryError) as error:
        registry.add("dataset", "abc", other_make, Options, "their_plugin")
    assert "'seqkit.plugins.abc'" in str(error.value) and "'their_plugin'" in str(error.value)


def test_same_component_from_the_same_plugin_twice_is_not_a_clash():
    registry = Registry()
    registry.add("cell", "tiny", make, Options, "my_plugin")
    registry.add("cell", "tiny", make, Options, "my_plugin")
    assert registry.names("cell") == ["tiny"]


@pytest.mark.parametrize(
    ("kind", "name", "factory", "config_class", "message"),
    [
        ("widget", "x", make, Options, "unknown component kind 'widget'"),
        ("cell", "not a name", make, Options, "must be an identifier"),
        ("cell", "x", 42, Options, "is not callable"),
        ("cell", "x", make, dict, "must be a dataclass"),
    ],
)
def test_bad_registrations_are_refused(kind, name, factory, config_class, message):
    with pytest.raises(RegistryError, match=message):
        Registry().add(kind, name, factory, config_class, "p")


def test_components_are_listed_by_kind_then_name():
    registry = Registry()
    registry.add("head", "b", make, Options, "p")
    registry.add("cell", "z", make, Options, "p")
    registry.add("cell", "a", make, Options, "p")
    assert [(c.kind, c.name) for c in registry.components()] == [("cell", "a"), ("cell", "z"), ("head", "b")]


def test_a_copy_stages_additions_without_touching_the_original():
    registry = Registry()
    registry.add("cell", "kept", make, Options, "p")
    staged = registry.copy()
    staged.add("cell", "staged", other_make, Options, "q")
    assert registry.names("cell") == ["kept"]
    assert staged.names("cell") == ["kept", "staged"]
    with pytest.raises(RegistryError, match="by plugin 'p' and by plugin 'q'"):
        staged.add("cell", "kept", other_make, Options, "q")
