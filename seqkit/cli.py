"""The ``seqkit`` command: the Hydra app that trains a composition, and the subcommands for finished runs.

    seqkit +experiment=bach                     train, test and sample the Bach experiment
    seqkit -m cell=lstm,gru,peephole            a sweep, one run directory per job
    seqkit --cfg job                            print the composed config
    seqkit plugins [--json]                     what is installed and what each plugin provides
    seqkit sample RUN_DIR [temperature=0.8 ...] sample again from a finished run
    seqkit evaluate RUN_DIR [split=test ...]    the metrics of a finished run's model, into RUN_DIR/evaluate.json
    seqkit predict RUN_DIR dataset.path=F.csv   a forecasting run's forecasts of new data, into RUN_DIR/predict/
    seqkit export RUN_DIR [format=onnx]         a portable model and its constants, checked against PyTorch

Plugins are loaded and their configs stored in Hydra's ConfigStore before Hydra composes anything, so
every component option is typed and checked at composition.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf.errors import OmegaConfBaseException

from seqkit.checkpoint import CheckpointError
from seqkit.errors import error_line
from seqkit.host import Host, PluginError, load_host
from seqkit.registry import KINDS, RegistryError

log = logging.getLogger("seqkit")

_HOST: Host | None = None


def get_host() -> Host:
    """The process's loaded plugins (loaded once; Hydra's launchers call the task many times)."""
    global _HOST
    if _HOST is None:
        _HOST = load_host()
    return _HOST


def set_host(host: Host | None) -> None:
    """Use ``host`` for the next runs in this process (embedding code and tests)."""
    global _HOST
    _HOST = host


# -- seqkit plugins ---------------------------------------------------------------------------------


def plugin_listing(host: Host) -> dict[str, Any]:
    provided: dict[str, list[dict[str, str]]] = {name: [] for name in host.plugins}
    for component in host.registry.components():
        provided.setdefault(component.plugin, []).append({"kind": component.kind, "name": component.name})
    configs: dict[str, list[str]] = {}
    for plugin, directory in host.config_dirs:
        configs.setdefault(plugin, []).extend(
            f"{path.parent.name}/{path.stem}" for path in sorted(directory.glob("*/*.yaml"))
        )
    return {
        "plugins": [
            {
                "name": info.name,
                "version": info.version,
                "source": info.source,
                "hooks": info.hooks,
                "components": provided.get(info.name, []),
                "configs": configs.get(info.name, []),
            }
            for info in host.plugins.values()
        ],
        "failures": host.failures,
    }


def plugins_command(arguments: list[str]) -> int:
    if any(argument not in ("--json",) for argument in arguments):
        print("usage: seqkit plugins [--json]", file=sys.stderr)
        return 2
    try:
        host = get_host()
    except PluginError as error:  # strict mode: the one line naming the plugin, not a traceback
        print(f"seqkit: error: {error_line(error) or type(error).__name__}", file=sys.stderr)
        return 2
    listing = plugin_listing(host)
    if "--json" in arguments:
        print(json.dumps(listing, indent=2))
        return 0
    rows = [("plugin", "version", "source", "provides")]
    for plugin in listing["plugins"]:
        provides = [f"{c['kind']}:{c['name']}" for c in plugin["components"]] + [
            f"config:{c}" for c in plugin["configs"]
        ]
        rows.append((plugin["name"], plugin["version"], plugin["source"], ", ".join(provides) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    for failure in listing["failures"]:
        print(f"failed: {failure}")
    return 0


# -- seqkit sample ----------------------------------------------------------------------------------


def sample_command(arguments: list[str]) -> int:
    from seqkit.sampling import SampleRequest, sample_from_run

    if not arguments or arguments[0].startswith("-"):
        print("usage: seqkit sample RUN_DIR [checkpoint=best|last|PATH] [device=cpu] [out=DIR] [SAMPLER_KEY=VALUE ...]")
        return 0 if arguments and arguments[0] in ("-h", "--help") else 2
    request = SampleRequest.from_arguments(arguments[0], arguments[1:])
    result = sample_from_run(request, get_host().registry)
    print(json.dumps(result, indent=2))
    return 0


def parse_run_arguments(arguments: list[str], options: dict[str, str], usage: str) -> list[str]:
    """Fill ``options`` from ``KEY=VALUE`` arguments of a finished-run command; returns the ``dataset.KEY=VALUE``
    ones as dataset overrides (``KEY=VALUE``). Anything else is refused with the command's usage."""
    dataset_overrides: list[str] = []
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator:
            raise ValueError(f"expected KEY=VALUE, got {argument!r}")
        if key in options:
            options[key] = value
        elif key.startswith("dataset.") and key != "dataset.name":
            dataset_overrides.append(argument.removeprefix("dataset."))
        else:
            raise ValueError(f"unknown argument {argument!r}; {usage.removeprefix('usage: ')}")
    return dataset_overrides


# -- seqkit evaluate --------------------------------------------------------------------------------

EVALUATE_USAGE = (
    "usage: seqkit evaluate RUN_DIR [checkpoint=best|last|PATH] [device=cpu] [split=test] [dataset.KEY=VALUE ...]"
)


def evaluate_command(arguments: list[str]) -> int:
    """Score a finished run's model on a split; print the result and write it to ``RUN_DIR/evaluate.json``."""
    from omegaconf import OmegaConf

    from seqkit.inference import load_run
    from seqkit.runlog import write_json

    if not arguments or arguments[0].startswith("-"):
        print(EVALUATE_USAGE)
        return 0 if arguments and arguments[0] in ("-h", "--help") else 2
    run_dir = Path(arguments[0])
    options = {"checkpoint": "best", "device": "auto", "split": "test"}
    dataset_overrides = parse_run_arguments(arguments[1:], options, EVALUATE_USAGE)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a directory; give the run directory (it receives evaluate.json)")
    overrides = OmegaConf.to_container(OmegaConf.from_dotlist(dataset_overrides))
    run = load_run(run_dir, options["checkpoint"], options["device"], registry=get_host().registry)
    result = {
        "checkpoint": str(run.checkpoint),
        "split": options["split"],
        "dataset_overrides": overrides,
        **run.evaluate_report(options["split"], **overrides),
    }
    write_json(run_dir / "evaluate.json", result)
    print(json.dumps(result, indent=2))
    return 0


# -- seqkit predict ---------------------------------------------------------------------------------

PREDICT_USAGE = (
    "usage: seqkit predict RUN_DIR dataset.path=NEW.csv [last=true] [out=FILE.csv] [checkpoint=best|last|PATH] "
    "[device=cpu] [dataset.KEY=VALUE ...]"
)


def new_forecast_file(run_dir: Path) -> Path:
    """``RUN/predict/forecast-<date_time>.csv``, a file of its own for one call (never the run's forecast.csv)."""
    import time

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    candidate, number = run_dir / "predict" / f"forecast-{stamp}.csv", 1
    while candidate.exists():
        number += 1
        candidate = run_dir / "predict" / f"forecast-{stamp}_{number}.csv"
    return candidate


def predict_command(arguments: list[str]) -> int:
    """Forecast new data with a finished run's model; write the table to a CSV and print its path and rows."""
    from omegaconf import OmegaConf

    from seqkit.inference import load_run
    from seqkit.runlog import write_text_atomic

    if not arguments or arguments[0].startswith("-"):
        print(PREDICT_USAGE)
        return 0 if arguments and arguments[0] in ("-h", "--help") else 2
    run_dir = Path(arguments[0])
    options = {"checkpoint": "best", "device": "auto", "last": "false", "out": ""}
    dataset_overrides = parse_run_arguments(arguments[1:], options, PREDICT_USAGE)
    if options["last"].lower() not in ("true", "false"):
        raise ValueError(f"last must be true or false; got {options['last']!r}")
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a directory; give the run directory")
    out = Path(options["out"]) if options["out"] else new_forecast_file(run_dir)
    if out.exists():
        raise ValueError(f"out={out} already exists; seqkit predict overwrites nothing, so choose another file")
    overrides = OmegaConf.to_container(OmegaConf.from_dotlist(dataset_overrides))
    run = load_run(run_dir, options["checkpoint"], options["device"], registry=get_host().registry)
    last = options["last"].lower() == "true"
    frame = run.predict(last=last, **overrides)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, frame.to_csv(index=False, float_format="%.4f"))  # as the run's forecast.csv
    result = {
        "path": str(out),
        "rows": len(frame),
        "last": last,
        "checkpoint": str(run.checkpoint),
        "dataset_overrides": overrides,
    }
    print(json.dumps(result, indent=2))
    return 0


# -- the Hydra app ----------------------------------------------------------------------------------


def config_options(group: str, host: Host) -> set[str]:
    """The YAML options of a config group: seqkit's own (``conf/cell/lstm_bach.yaml``) and the plugins'."""
    import seqkit.conf

    folders = [Path(seqkit.conf.__file__).parent, *(directory for _plugin, directory in host.config_dirs)]
    return {path.stem for folder in folders for path in (folder / group).glob("*.yaml")}


def check_component_overrides(arguments: list[str], host: Host) -> None:
    """Fail early, with the providing plugins, on ``cell=NAME`` overrides naming no registered component
    (nor a YAML option of the group, such as a preset's configured cell)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # noqa: BLE001 - malformed overrides are Hydra's to report, with its own message
        return
    for override in overrides:
        if override.key_or_group not in KINDS or override.is_delete():
            continue
        if override.is_sweep_override():
            names = list(override.sweep_string_iterator())
        else:
            names = [override.get_value_element_as_str()]
        options = config_options(override.key_or_group, host)
        for name in names:
            if name not in ("null", "None") and name not in options:
                host.registry.get(override.key_or_group, name)


def check_run_dir(arguments: list[str]) -> None:
    """Fail before Hydra starts when ``hydra.run.dir=`` names a file: Hydra would fail with a traceback."""
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key.lstrip("+") == "hydra.run.dir" and Path(value).is_file():
            raise ValueError(f"hydra.run.dir={value} is a file, not a directory; choose another hydra.run.dir")


def task(config) -> float | None:
    """One run of the Hydra app: train the composed config in Hydra's output directory."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from seqkit.distributed import is_main_process
    from seqkit.training import TrainingStopped, train

    hydra_config = HydraConfig.get()
    try:
        # The command line's overrides tell a resumed run what to take from the command, not the checkpoint.
        summary = train(
            config, get_host().registry, Path(hydra_config.runtime.output_dir), list(hydra_config.overrides.task)
        )
    except TrainingStopped as stop:
        if hydra_config.mode != RunMode.RUN and stop.status == "failed":
            # A diverged job is one failed job of the sweep: raising (not exiting) lets Hydra record it
            # and run the others. An interruption (status "stopped") still ends the whole sweep.
            raise
        log.error("%s", stop)
        raise SystemExit(stop.exit_code) from None
    except (RegistryError, ValueError, FileNotFoundError, CheckpointError) as error:
        if hydra_config.mode != RunMode.RUN:
            raise  # a sweep records the failed job and goes on with the others
        log.error("%s: %s", type(error).__name__, error)
        raise SystemExit(2) from None
    log.info("test %s", summary["metrics"]["test"])
    if is_main_process():  # under torchrun, one line for the run rather than one per process
        print(json.dumps({"run_dir": summary["run_dir"], "metrics": summary["metrics"]}), flush=True)
    return summary["metrics"]["val"][summary["main_metric"]]


def hydra_app(host: Host) -> None:
    import hydra

    from seqkit.config import register_configs

    register_configs(host)
    app = hydra.main(version_base="1.3", config_path="pkg://seqkit.conf", config_name="config")(task)
    app()


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["plugins"]:
        raise SystemExit(plugins_command(arguments[1:]))
    if arguments[:1] == ["export"]:
        from seqkit.export import export_command  # reports its own errors in one line

        raise SystemExit(export_command(arguments[1:]))
    try:
        if arguments[:1] == ["sample"]:
            raise SystemExit(sample_command(arguments[1:]))
        if arguments[:1] == ["evaluate"]:
            raise SystemExit(evaluate_command(arguments[1:]))
        if arguments[:1] == ["predict"]:
            raise SystemExit(predict_command(arguments[1:]))
        check_run_dir(arguments)
        host = get_host()
        check_component_overrides(arguments, host)
    except (
        RegistryError,
        PluginError,
        ValueError,
        FileNotFoundError,
        CheckpointError,
        OmegaConfBaseException,
    ) as error:
        print(f"seqkit: error: {error_line(error) or type(error).__name__}", file=sys.stderr)
        raise SystemExit(2) from None
    if argv is not None:
        sys.argv = [sys.argv[0], *arguments]
    hydra_app(host)
