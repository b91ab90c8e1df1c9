"""Hook specifications: how a plugin tells seqkit what it provides.

Every hook hands the plugin a ``register`` callback; the plugin calls it once per thing it provides.
Built-in plugins use exactly these hooks. Spec bodies never run; their docstrings are the contract.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("seqkit")
hookimpl = pluggy.HookimplMarker("seqkit")

#: ``register(name, factory, config_class, **extras)``: one component, its factory and its config dataclass
#: (datasets may add the keyword extras ``sample_format`` and ``model_extension``).
RegisterComponent = Callable[..., None]
#: ``register(directory)``: a folder of Hydra config groups (``experiment/x.yaml``, ``dataset/y.yaml``).
RegisterConfigDir = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------------


@hookspec
def register_datasets(register: RegisterComponent) -> None:
    """Register datasets: ``register(name, factory, config_class, sample_format=..., model_extension=...)``.

    :param register: call with the dataset's name, ``factory(config) -> Dataset`` and its config
        dataclass (stored under the config group ``dataset/<name>``). Two optional keywords give what
        a finished run needs without its data: ``sample_format``, a ``SampleFormat`` saying how
        generated text is primed, stored, cut into pieces and judged; ``model_extension``,
        ``model_extension(config, spec) -> ModelExtension | None``, a module the model adds to its
        predictions (e.g. a linear skip from the inputs).
    """


@hookspec
def register_cells(register: RegisterComponent) -> None:
    """Register recurrent cells: ``register(name, factory, config_class)``.

    :param register: call with the cell's name, ``factory(config, input_size) -> Cell`` and its
        config dataclass (stored under ``cell/<name>``; it must have a ``hidden_size`` field).
    """


@hookspec
def register_heads(register: RegisterComponent) -> None:
    """Register output heads: ``register(name, factory, config_class)``.

    :param register: call with the head's name, ``factory(config, hidden_size, spec) -> Head`` and
        its config dataclass (stored under ``head/<name>``).
    """


@hookspec
def register_samplers(register: RegisterComponent) -> None:
    """Register samplers: ``register(name, factory, config_class)``.

    :param register: call with the sampler's name, ``factory(config) -> Sampler`` and its config
        dataclass (stored under ``sampler/<name>``).
    """


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


@hookspec
def register_config_dirs(register: RegisterConfigDir) -> None:
    """Register folders of Hydra configs: experiment presets and extra options for any group.

    :param register: call with a directory laid out like seqkit's own ``conf/``:
        ``<dir>/experiment/<name>.yaml`` becomes ``+experiment=<name>``, ``<dir>/<group>/<name>.yaml``
        an option of that group. A ``# @package`` header on the first line is honoured.
    """
