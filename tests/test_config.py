"""Composition: typed component configs in the ConfigStore, presets, and errors that name the key."""

from dataclasses import dataclass, field

import pytest
from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ValidationError

from seqkit import hookimpl
from seqkit.config import (
    TrainerConfig,
    build_config,
    component_node,
    config_for_resume,
    override_key,
    read_config_dir,
    register_configs,
    store_config_dir,
    validate_component_config,
)
from seqkit.host import Host, load_host
from seqkit.model import ModelConfig
from seqkit.registry import Component, Registry

import toy_plugin


def test_component_options_compose_with_their_defaults(compose_config):
    config = compose_config(["cell=toy_rnn", "cell.hidden_size=32"])
    assert config.cell.name == "toy_rnn"
    assert config.cell.hidden_size == 32


def test_root_keys_other_tools_rely_on_exist(compose_config):
    config = compose_config([])
    for key in ("seed", "model.num_layers", "model.dropout", "optimizer.lr", "cell.hidden_size"):
        assert OmegaConf.select(config, key, throw_on_missing=True) is not None, key
    for key in ("max_steps", "max_epochs", "device", "resume", "val_every", "patience", "grad_clip"):
        assert key in config.trainer
    assert {"dataset", "cell", "head", "sampler", "optimizer", "trainer"} <= set(config)


def test_unknown_component_key_fails_at_composition_naming_it(compose_config):
    with pytest.raises(ConfigCompositionException) as error:
        compose_config(["cell=toy_rnn", "cell.hidden_sizee=32"])
    assert "hidden_sizee" in str(error.value) + str(error.value.__cause__)


def test_wrong_value_type_fails_at_composition_naming_the_key(compose_config):
    with pytest.raises(ConfigCompositionException) as error:
        compose_config(["cell=toy_rnn", "cell.hidden_size=large"])
    cause = error.value.__cause__
    assert isinstance(cause, ValidationError)
    assert "hidden_size" in str(cause) and "large" in str(cause)


def test_wrong_trainer_key_fails_naming_it(compose_config):
    with pytest.raises(ConfigCompositionException) as error:
        compose_config(["trainer.max_stepz=3"])
    assert "max_stepz" in str(error.value) + str(error.value.__cause__)


def test_optimizer_presets(compose_config):
    config = compose_config(["optimizer=adagrad"])
    assert (config.optimizer.name, config.optimizer.lr) == ("adagrad", 0.03)


def test_build_config_returns_the_plugins_own_dataclass(compose_config, host):
    config = compose_config(["cell=toy_rnn", "cell.hidden_size=5"])
    component = host.registry.get("cell", "toy_rnn")
    built = build_config(config.cell, component)
    assert type(built) is component.config_class and built.hidden_size == 5
    assert build_config({"name": "toy_rnn", "hidden_size": 7}, component).hidden_size == 7
    with pytest.raises(ValueError, match="cell.nope: Key .nope. not in .ToyCellConfig. \\(cell .toy_rnn.\\)"):
        build_config({"nope": 1}, component)


def test_config_class_may_not_define_name():
    @dataclass
    class Named:
        name: str = "x"

    component = Component("cell", "named", lambda c, i: None, Named, "p")
    with pytest.raises(TypeError, match="may not define a 'name' field"):
        component_node(component)


def test_plugin_config_dirs_become_groups_and_global_experiments(tmp_path, compose_config):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "tiny_test_preset.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /cell: toy_rnn\nseed: 7\ncell:\n  hidden_size: 3\n"
    )
    store_config_dir(ConfigStore.instance(), tmp_path)
    config = compose_config(["+experiment=tiny_test_preset"])
    assert (config.seed, config.cell.name, config.cell.hidden_size) == (7, "toy_rnn", 3)


@pytest.mark.parametrize("name", ["bach", "bach_seed", "electricity", "electricity_seed"])
def test_shipped_experiments_compose(compose_config, name):
    config = compose_config([f"+experiment={name}"])
    assert config.experiment == name
    assert config.dataset.name in ("abc", "electricity")


def test_a_presets_component_options_go_when_its_component_is_swapped(compose_config):
    bach = compose_config(["+experiment=bach"])
    assert (bach.cell.name, bach.cell.weight_drop, bach.sampler.name, bach.sampler.top_p) == ("lstm", 0.3, "text", 0.98)
    swapped = compose_config(["+experiment=bach", "cell=toy_rnn"])  # a cell without weight_drop
    assert swapped.cell.name == "toy_rnn" and swapped.cell.hidden_size == 448 and "weight_drop" not in swapped.cell


def test_a_presets_sampler_options_stay_with_its_sampler():
    @dataclass
    class EchoConfig:
        repeat: int = 1

    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register("echo", lambda config: config, EchoConfig)

    register_configs(load_host([("toy", toy_plugin), ("echo", Plugin())], strict=True))
    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        config = compose(config_name="config", overrides=["+experiment=bach", "sampler=echo"])
    assert dict(config.sampler) == {"repeat": 1, "name": "echo"}


# -- resuming ---------------------------------------------------------------------------------------


STORED = {
    "cell": {"name": "toy_rnn", "hidden_size": 6},
    "head": {"name": "softmax", "dropout": 0.1},
    "model": {"num_layers": 2, "dropout": 0.2},
    "trainer": {"max_steps": 10},
}
COMPOSED = {
    "cell": {"name": "toy_rnn", "hidden_size": 8},
    "head": {"name": "softmax", "dropout": 0.0},
    "model": {"num_layers": 1, "dropout": 0.0},
    "trainer": {"max_steps": 50},
}


def test_resumed_config_takes_the_trained_sections_from_the_checkpoint():
    merged, changed = config_for_resume(OmegaConf.create(COMPOSED), STORED, overrides=["trainer.max_steps=50"])
    assert merged.cell.hidden_size == 6 and merged.model.num_layers == 2
    assert merged.trainer.max_steps == 50  # the trainer section is always the current command's
    assert set(changed) == {"cell", "head", "model"}


def test_resumed_config_keeps_the_keys_the_command_line_set():
    merged, _ = config_for_resume(OmegaConf.create(COMPOSED), STORED, overrides=["head.dropout=0.0", "+cell=toy_rnn"])
    assert merged.head.dropout == 0.0 and merged.cell.hidden_size == 8
    assert merged.model.dropout == 0.2


def test_resumed_config_is_typed_like_a_composed_one():
    merged, _ = config_for_resume(OmegaConf.create(COMPOSED), STORED, overrides=[])
    assert OmegaConf.get_type(merged.model) is ModelConfig and OmegaConf.get_type(merged.trainer) is TrainerConfig
    assert merged.trainer.average_from is None  # a schema default the stored and composed configs leave out
    with pytest.raises(ConfigAttributeError):
        merged.model.num_layer  # noqa: B018 - a misspelt key fails instead of reading None


@pytest.mark.parametrize(
    "override, key",
    [
        ("cell.hidden_size=8", "cell.hidden_size"),
        ("+experiment=bach", "experiment"),
        ("~sampler", "sampler"),
        ("cell@encoder=gru", "cell"),
    ],
)
def test_override_key_names_what_an_override_sets(override, key):
    assert override_key(override) == key


# -- validation at load -----------------------------------------------------------------------------


@dataclass
class Plain:
    hidden_size: int = 3
    values: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Unstorable:
    ids: set[int] = frozenset()


def test_validate_component_config_accepts_a_plain_dataclass_and_names_the_bad_field():
    validate_component_config(Component("cell", "plain", lambda c, i: None, Plain, "p"))
    with pytest.raises(TypeError) as error:
        validate_component_config(Component("cell", "sets", lambda c, i: None, Unstorable, "p"))
    message = str(error.value)
    assert message.startswith("cell 'sets' from plugin 'p': config class test_config.Unstorable field 'ids' cannot")
    assert "Unexpected type annotation: set[int]" in message and "\n" not in message


def test_read_config_dir_parses_each_file_once_with_its_package(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "a.yaml").write_text("# @package _global_\nseed: 3\n")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "empty.yaml").write_text("")
    files = read_config_dir(tmp_path)
    assert [(f.group, f.name, f.package, f.node) for f in files] == [
        ("dataset", "empty", None, {}),
        ("experiment", "a", "_global_", {"seed": 3}),
    ]


def test_read_config_dir_names_the_file_and_line_of_bad_yaml(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "bad.yaml").write_text("seed: 1\nnote: a: b\n")
    with pytest.raises(ValueError) as error:
        read_config_dir(tmp_path)
    assert str(error.value) == (
        f"config file {tmp_path / 'experiment' / 'bad.yaml'} line 2: mapping values are not allowed here "
        "(not valid YAML)"
    )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_config_dir(tmp_path / "nowhere")


def test_register_configs_stores_what_the_loader_validated_without_parsing_again(tmp_path, compose_config):
    preset = tmp_path / "experiment" / "validated_once_preset.yaml"
    preset.parent.mkdir()
    preset.write_text("# @package _global_\nseed: 11\n")
    files = read_config_dir(tmp_path)
    preset.write_text("this: is: no longer: yaml\n")  # a second parse would fail
    host = Host(None, Registry(), {}, [("p", tmp_path)], [], {tmp_path: files})
    register_configs(host)
    assert compose_config(["+experiment=validated_once_preset"]).seed == 11
