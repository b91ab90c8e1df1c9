"""The plugin manager: built-ins first, then entry points; broken plugins reported by name and skipped."""

from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

from seqkit import hookimpl
from seqkit.host import BUILTIN_PLUGINS, PluginError, load_host

import toy_plugin

pytestmark = pytest.mark.usefixtures("no_installed_plugins")


@dataclass
class Options:
    hidden_size: int = 3


class ExtraCell:
    @hookimpl
    def register_cells(self, register):
        register("extra", lambda config, input_size: None, Options)


class ClashingDataset:
    @hookimpl
    def register_datasets(self, register):
        register("toy_tokens", lambda config: None, Options)


class Misspelt:
    @hookimpl
    def register_cels(self, register):  # the typo pluggy would otherwise ignore
        register("x", lambda config, input_size: None, Options)


class FailsWhileRegistering:
    @hookimpl
    def register_heads(self, register):
        raise RuntimeError("head weights missing")


def test_builtin_plugins_register_every_builtin_component():
    host = load_host(strict=True)
    assert list(host.plugins) == list(BUILTIN_PLUGINS)
    assert set(host.registry.names("cell")) >= {"rnn", "lstm", "gru", "peephole"}
    assert set(host.registry.names("head")) >= {"regression", "softmax"}
    assert set(host.registry.names("dataset")) >= {"electricity", "abc"}
    assert "text" in host.registry.names("sampler")
    assert host.registry.get("cell", "lstm").plugin == "seqkit.plugins.cells"
    assert host.failures == []


def test_a_plugin_object_registers_through_the_same_hooks():
    host = load_host([("extra", ExtraCell())], builtins=(), strict=True)
    assert host.registry.get("cell", "extra").plugin == "extra"
    assert host.plugins["extra"].hooks == ["register_cells"]


def test_duplicate_name_across_plugins_names_both_and_is_skipped_when_not_strict(capsys):
    host = load_host([("toy", toy_plugin), ("clash", ClashingDataset())], builtins=(), strict=False)
    assert host.registry.get("dataset", "toy_tokens").plugin == "toy"
    message = capsys.readouterr().err
    assert "'toy'" in message and "'clash'" in message and "registered twice" in message


def test_duplicate_name_raises_in_strict_mode():
    with pytest.raises(PluginError, match="registered twice: by plugin 'toy' and by plugin 'clash'"):
        load_host([("toy", toy_plugin), ("clash", ClashingDataset())], builtins=(), strict=True)


def test_misspelt_hook_is_reported_by_plugin_name(capsys):
    host = load_host([("typo", Misspelt())], builtins=(), strict=False)
    assert "typo" not in host.plugins
    (failure,) = host.failures
    assert failure.startswith('Error loading seqkit plugin "typo"') and "register_cels" in failure
    assert "(skipped)" in capsys.readouterr().err


def test_misspelt_hook_raises_in_strict_mode():
    with pytest.raises(PluginError, match="register_cels"):
        load_host([("typo", Misspelt())], builtins=(), strict=True)


def test_plugin_failing_inside_a_hook_is_reported_and_others_still_load():
    host = load_host([("broken", FailsWhileRegistering()), ("extra", ExtraCell())], builtins=(), strict=False)
    assert host.failures == ['Error loading seqkit plugin "broken": RuntimeError: head weights missing']
    assert host.registry.names("cell") == ["extra"]


def test_broken_entry_point_is_one_line_and_loading_goes_on(monkeypatch, capsys):
    broken = EntryPoint(name="broken", value="no_such_module_anywhere:plugin", group="seqkit")
    monkeypatch.setattr("seqkit.host.entry_points", lambda group: [broken])
    monkeypatch.delenv("SEQKIT_LOAD_PLUGINS", raising=False)
    host = load_host([("extra", ExtraCell())], builtins=(), strict=False)
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert line.startswith('seqkit: Error loading seqkit plugin "broken": ModuleNotFoundError')
    assert host.registry.names("cell") == ["extra"]


def test_strict_mode_from_the_environment(monkeypatch):
    broken = EntryPoint(name="broken", value="no_such_module_anywhere:plugin", group="seqkit")
    monkeypatch.setattr("seqkit.host.entry_points", lambda group: [broken])
    monkeypatch.setenv("SEQKIT_STRICT_PLUGINS", "1")
    monkeypatch.delenv("SEQKIT_LOAD_PLUGINS", raising=False)
    with pytest.raises(PluginError, match='"broken"'):
        load_host(builtins=())


def test_load_plugins_selects_entry_points_by_name(monkeypatch):
    wanted = EntryPoint(name="toy", value="toy_plugin", group="seqkit")
    unwanted = EntryPoint(name="broken", value="no_such_module_anywhere:plugin", group="seqkit")
    monkeypatch.setattr("seqkit.host.entry_points", lambda group: [wanted, unwanted])
    monkeypatch.setenv("SEQKIT_LOAD_PLUGINS", "toy")
    host = load_host(builtins=(), strict=True)
    assert list(host.plugins) == ["toy"]
    monkeypatch.setenv("SEQKIT_LOAD_PLUGINS", "")
    assert load_host(builtins=(), strict=True).plugins == {}


def test_the_same_plugin_found_twice_is_one_plugin(monkeypatch):
    # An editable install can expose one distribution's entry point twice (lib64 -> lib).
    first = EntryPoint(name="toy", value="toy_plugin", group="seqkit")
    second = EntryPoint(name="toy", value="toy_plugin", group="seqkit")
    monkeypatch.setattr("seqkit.host.entry_points", lambda group: [first, second])
    monkeypatch.delenv("SEQKIT_LOAD_PLUGINS", raising=False)
    host = load_host(builtins=(), strict=True)
    assert list(host.plugins) == ["toy"]
    assert host.registry.names("dataset") == ["toy_series", "toy_tokens"]


def test_trace_prints_each_registration(monkeypatch, capsys):
    monkeypatch.setenv("SEQKIT_TRACE_PLUGINS", "1")
    load_host([("extra", ExtraCell())], builtins=(), strict=True)
    assert "seqkit: extra registers cell 'extra'" in capsys.readouterr().err
