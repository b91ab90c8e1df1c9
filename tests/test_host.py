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


# -- all or nothing per plugin, and configs validated at load ----------------------------------------


class RegistersThenFails:
    """Registers a cell and a config folder, then fails in another hook: none of it may stay."""

    def __init__(self, directory):
        self.directory = directory

    @hookimpl
    def register_cells(self, register):
        register("half", lambda config, input_size: None, Options)

    @hookimpl
    def register_heads(self, register):
        raise RuntimeError("head weights missing")

    @hookimpl
    def register_config_dirs(self, register):
        register(str(self.directory))


class ClashesAfterRegisteringACell:
    @hookimpl
    def register_cells(self, register):
        register("clash_cell", lambda config, input_size: None, Options)

    @hookimpl
    def register_datasets(self, register):
        register("toy_tokens", lambda config: None, Options)


class SwallowsItsClash:
    @hookimpl
    def register_datasets(self, register):
        try:
            register("toy_tokens", lambda config: None, Options)
        except Exception:  # noqa: BLE001 - a plugin hiding its own failure must still be skipped
            pass
        register("quiet", lambda config: None, Options)


@dataclass
class Named:
    name: str = "x"


@dataclass
class WithSet:
    ids: set[int] = frozenset()


class Opaque:
    pass


@dataclass
class WithOpaque:
    thing: Opaque = None


@dataclass
class NoDefault:
    hidden_size: int


@dataclass(frozen=True)
class Frozen:
    hidden_size: int = 3


def registers_cell_with(config_class):
    class BadConfig:
        @hookimpl
        def register_cells(self, register):
            register("good", lambda config, input_size: None, Options)
            register("bad", lambda config, input_size: None, config_class)

    return BadConfig()


class ConfigDir:
    def __init__(self, directory):
        self.directory = directory

    @hookimpl
    def register_cells(self, register):
        register("with_dir", lambda config, input_size: None, Options)

    @hookimpl
    def register_config_dirs(self, register):
        register(str(self.directory))


def config_dir(tmp_path, files: dict[str, str]):
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_plugin_failing_after_registering_keeps_none_of_it(tmp_path, capsys):
    directory = config_dir(tmp_path, {"experiment/half.yaml": "seed: 1\n"})
    host = load_host([("half", RegistersThenFails(directory)), ("extra", ExtraCell())], builtins=(), strict=False)
    assert host.failures == ['Error loading seqkit plugin "half": RuntimeError: head weights missing']
    assert capsys.readouterr().err == (
        'seqkit: Error loading seqkit plugin "half": RuntimeError: head weights missing (skipped)\n'
    )
    assert host.registry.names("cell") == ["extra"]  # not "half"
    assert host.config_dirs == [] and host.config_files == {}
    assert list(host.plugins) == ["extra"]
    assert not host.plugin_manager.has_plugin("half")


def test_a_plugin_failing_after_registering_raises_in_strict_mode(tmp_path):
    with pytest.raises(PluginError) as error:
        load_host([("half", RegistersThenFails(tmp_path))], builtins=(), strict=True)
    assert str(error.value) == 'Error loading seqkit plugin "half": RuntimeError: head weights missing'


def test_a_clash_names_both_providers_and_drops_the_whole_second_plugin():
    host = load_host(
        [("toy", toy_plugin), ("clash", ClashesAfterRegisteringACell()), ("extra", ExtraCell())],
        builtins=(),
        strict=False,
    )
    assert host.failures == [
        'Error loading seqkit plugin "clash": RegistryError: '
        "dataset 'toy_tokens' is registered twice: by plugin 'toy' and by plugin 'clash'"
    ]
    assert "clash_cell" not in host.registry.names("cell") and "extra" in host.registry.names("cell")
    assert host.registry.get("dataset", "toy_tokens").plugin == "toy"
    assert list(host.plugins) == ["toy", "extra"]


def test_a_plugin_that_swallows_its_registration_error_is_still_skipped():
    host = load_host([("toy", toy_plugin), ("quiet", SwallowsItsClash())], builtins=(), strict=False)
    (failure,) = host.failures
    assert failure.startswith('Error loading seqkit plugin "quiet": RegistryError: ') and "registered twice" in failure
    assert "quiet" not in host.registry.names("dataset")


CLASS = "test_host"
BAD_CONFIG_CLASSES = [
    (
        Named,
        f"TypeError: cell 'bad' from plugin 'bad': config class {CLASS}.Named may not define a 'name' field; "
        "seqkit adds it (rename the field)",
    ),
    (
        WithSet,
        f"TypeError: cell 'bad' from plugin 'bad': config class {CLASS}.WithSet field 'ids' cannot be stored by "
        "OmegaConf: Unexpected type annotation: set[int] (use int, float, bool, str, Path, an Enum, a dataclass, "
        "or a list or dict of those)",
    ),
    (
        WithOpaque,
        f"TypeError: cell 'bad' from plugin 'bad': config class {CLASS}.WithOpaque field 'thing' cannot be stored "
        "by OmegaConf: Unexpected type annotation: Opaque (use int, float, bool, str, Path, an Enum, a dataclass, "
        "or a list or dict of those)",
    ),
    (
        NoDefault,
        f"TypeError: cell 'bad' from plugin 'bad': config class {CLASS}.NoDefault field 'hidden_size' has no "
        "default; give every field a default",
    ),
    (
        Frozen,
        f"TypeError: cell 'bad' from plugin 'bad': config class {CLASS}.Frozen is frozen; use a plain @dataclass "
        "(options are overridden)",
    ),
]


@pytest.mark.parametrize(
    ("config_class", "reason"), BAD_CONFIG_CLASSES, ids=[c.__name__ for c, _ in BAD_CONFIG_CLASSES]
)
def test_a_bad_config_class_skips_its_plugin_at_load(config_class, reason, capsys):
    host = load_host([("bad", registers_cell_with(config_class)), ("extra", ExtraCell())], builtins=(), strict=False)
    assert host.failures == [f'Error loading seqkit plugin "bad": {reason}']
    assert capsys.readouterr().err == f'seqkit: Error loading seqkit plugin "bad": {reason} (skipped)\n'
    assert host.registry.names("cell") == ["extra"]  # neither "bad" nor its valid sibling "good"
    assert list(host.plugins) == ["extra"]


@pytest.mark.parametrize(
    ("config_class", "reason"), BAD_CONFIG_CLASSES, ids=[c.__name__ for c, _ in BAD_CONFIG_CLASSES]
)
def test_a_bad_config_class_is_one_line_in_strict_mode(config_class, reason):
    with pytest.raises(PluginError) as error:
        load_host([("bad", registers_cell_with(config_class))], builtins=(), strict=True)
    assert str(error.value) == f'Error loading seqkit plugin "bad": {reason}'


BAD_CONFIG_FILES = [
    ("experiment/broken.yaml", "seed: 1\ncell:\n  hidden_size: [3,\n", "line 4: expected the node content, but found"),
    ("experiment/colon.yaml", "seed: 1\nnote: a: b\n", "line 2: mapping values are not allowed here (not valid YAML)"),
    ("experiment/listed.yaml", "- 1\n- 2\n", ": the top level is a list, not a mapping of keys to values"),
    ("experiment/scalar.yaml", "just words\n", ": the top level is a str, not a mapping of keys to values"),
]


@pytest.mark.parametrize(("relative", "text", "reason"), BAD_CONFIG_FILES, ids=[f for f, _, _ in BAD_CONFIG_FILES])
def test_a_bad_config_file_skips_its_plugin_naming_file_and_line(tmp_path, relative, text, reason):
    directory = config_dir(tmp_path, {"experiment/fine.yaml": "seed: 2\n", relative: text})
    host = load_host([("withdir", ConfigDir(directory)), ("extra", ExtraCell())], builtins=(), strict=False)
    (failure,) = host.failures
    assert failure.startswith(f'Error loading seqkit plugin "withdir": ValueError: config file {tmp_path / relative}')
    assert reason in failure and "\n" not in failure
    assert host.registry.names("cell") == ["extra"] and host.config_dirs == [] and host.config_files == {}
    with pytest.raises(PluginError, match=f"config file {tmp_path / relative}"):
        load_host([("withdir", ConfigDir(directory))], builtins=(), strict=True)


def test_a_missing_config_dir_skips_its_plugin(tmp_path):
    host = load_host([("withdir", ConfigDir(tmp_path / "nowhere"))], builtins=(), strict=False)
    assert host.failures == [
        f'Error loading seqkit plugin "withdir": FileNotFoundError: config directory {tmp_path / "nowhere"} '
        "does not exist"
    ]
    assert host.registry.names("cell") == [] and host.config_dirs == []


def test_a_good_config_dir_is_read_once_at_load(tmp_path):
    directory = config_dir(tmp_path, {"experiment/fine.yaml": "# @package _global_\nseed: 2\n"})
    host = load_host([("withdir", ConfigDir(directory))], builtins=(), strict=True)
    assert host.config_dirs == [("withdir", directory)]
    (config_file,) = host.config_files[directory]
    assert (config_file.group, config_file.name, config_file.package, config_file.node) == (
        "experiment",
        "fine",
        "_global_",
        {"seed": 2},
    )


def test_strict_plugins_command_prints_one_line_and_exits_2(monkeypatch, capsys):
    from seqkit import cli

    broken = EntryPoint(name="broken", value="no_such_module_anywhere:plugin", group="seqkit")
    monkeypatch.setattr("seqkit.host.entry_points", lambda group: [broken])
    monkeypatch.setattr("seqkit.cli._HOST", None)
    monkeypatch.setenv("SEQKIT_STRICT_PLUGINS", "1")
    monkeypatch.delenv("SEQKIT_LOAD_PLUGINS", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plugins"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        'seqkit: error: Error loading seqkit plugin "broken": '
        "ModuleNotFoundError: No module named 'no_such_module_anywhere'\n"
    )
