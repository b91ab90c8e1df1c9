"""Every hook: a test of its own, and its exact signature in CONTRIBUTING.md's plugin guide."""

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from seqkit import hookimpl, hookspecs
from seqkit.components import Cell, Dataset, Head, ModelExtension, SampleFormat
from seqkit.config import register_configs
from seqkit.host import load_host
from seqkit.registry import EXTRAS

REPO = Path(__file__).resolve().parents[1]
HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("register_"))


pytestmark = pytest.mark.usefixtures("no_installed_plugins")


@dataclass
class Empty:
    size: int = 1


@dataclass
class TinyCellConfig:
    hidden_size: int = 2


def hook_signature(name: str) -> str:
    function = getattr(hookspecs, name)
    return f"def {name}{inspect.signature(function)}".replace("'", "")


def test_the_hook_specs_are_the_documented_five():
    assert HOOK_NAMES == [
        "register_cells",
        "register_config_dirs",
        "register_datasets",
        "register_heads",
        "register_samplers",
    ]


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_documented_with_its_signature(name):
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"### `{name}`" in guide
    assert hook_signature(name) in guide, hook_signature(name)


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_has_a_test(name):
    assert f"test_hook_{name}" in globals()


def test_hook_register_datasets():
    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("numbers", lambda config: ("dataset", config.size), Empty)

    host = load_host([("p", Plugin())], builtins=(), strict=True)
    component = host.registry.get("dataset", "numbers")
    assert component.factory(Empty(size=3)) == ("dataset", 3)


def test_hook_register_cells():
    from toy_plugin import ToyCell, ToyCellConfig

    class Plugin:
        @hookimpl
        def register_cells(self, register):
            register("mine", ToyCell, ToyCellConfig)

    host = load_host([("p", Plugin())], builtins=(), strict=True)
    cell = host.registry.get("cell", "mine").factory(ToyCellConfig(hidden_size=3), 2)
    h, (state,) = cell(torch.zeros(1, 2), cell.initial_state(1, torch.device("cpu"), torch.float32))
    assert h.shape == (1, 3) and torch.equal(h, state)


def test_hook_register_heads():
    class Plugin:
        @hookimpl
        def register_heads(self, register):
            register("constant", lambda config, hidden_size, spec: ("head", hidden_size), Empty)

    host = load_host([("p", Plugin())], builtins=(), strict=True)
    assert host.registry.get("head", "constant").factory(Empty(), 9, None) == ("head", 9)


def test_hook_register_samplers():
    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register("echo", lambda config: ("sampler", config.size), Empty)

    host = load_host([("p", Plugin())], builtins=(), strict=True)
    assert host.registry.get("sampler", "echo").factory(Empty(size=2)) == ("sampler", 2)
    assert host.registry.get("sampler", "echo").plugin == "p"


def test_hook_register_config_dirs(tmp_path, compose_config):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "from_config_dir_hook.yaml").write_text(
        "# @package _global_\nexperiment: from_config_dir_hook\nseed: 11\n"
    )

    class Plugin:
        @hookimpl
        def register_config_dirs(self, register):
            register(str(tmp_path))

    host = load_host([("p", Plugin())], builtins=(), strict=True)
    assert host.config_dirs == [("p", tmp_path)]
    register_configs(host)
    config = compose_config(["+experiment=from_config_dir_hook"])
    assert (config.experiment, config.seed) == ("from_config_dir_hook", 11)


def test_a_missing_config_dir_is_a_plugin_error(tmp_path):
    class Plugin:
        @hookimpl
        def register_config_dirs(self, register):
            register(str(tmp_path / "nowhere"))

    host = load_host([("p", Plugin())], builtins=(), strict=False)
    assert host.failures and "nowhere" in host.failures[0] and '"p"' in host.failures[0]


OPTIONAL_METHODS = [
    (contract.__name__, name)
    for contract in (Dataset, Cell, Head, ModelExtension, SampleFormat)
    for name, member in vars(contract).items()
    if callable(member) and not name.startswith("_") and not getattr(member, "__isabstractmethod__", False)
]


@pytest.mark.parametrize("contract, method", OPTIONAL_METHODS)
def test_every_optional_contract_method_is_in_the_plugin_guide(contract, method):
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"`{method}" in guide, f"{contract}.{method} is not documented in CONTRIBUTING.md"


@pytest.mark.parametrize(
    "kind, keyword", [(kind, keyword) for kind, keywords in EXTRAS.items() for keyword in keywords]
)
def test_every_registration_keyword_is_in_the_plugin_guide(kind, keyword):
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"`{keyword}" in guide and f"{keyword}=None" in guide, f"register(..., {keyword}=) of a {kind}"
