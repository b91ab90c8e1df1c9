"""One training run from a composed config: resume, build, fit, test on the best checkpoint, summarise.

``train(config, registry, run_dir)`` is what ``seqkit`` runs for each job. It joins the process group
under ``torchrun``, takes the trained thing's config from the checkpoint when resuming, builds the
dataset, model, optimizer and sampler, hands them to the :class:`~seqkit.training.loop.Loop`, and on
the way out writes ``summary.json`` however the run ended (``completed``, ``stopped`` or ``failed``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from seqkit import __version__, distributed
from seqkit.assemble import build_dataset, build_model, build_sampler, sample_format_of
from seqkit.checkpoint import load_checkpoint, preserved_random_states, resume_path
from seqkit.components import Dataset, Sampler
from seqkit.config import TrainerConfig, config_for_resume
from seqkit.datafiles import file_sha256
from seqkit.registry import Registry
from seqkit.runlog import MetricsLog, TensorBoardLog, plot_loss, write_json
from seqkit.runtime import Precision, configure_determinism, device_for, seed_everything
from seqkit.training import faults, rundir
from seqkit.training.loop import Loop
from seqkit.training.optim import Schedule, WeightAverage, build_optimizer
from seqkit.training.state import Checkpointer, TrainingState

log = logging.getLogger("seqkit.training")

Callbacks = Mapping[str, Sequence[Callable[[Loop], None]]]


def check_trainer_config(config: TrainerConfig) -> None:
    """Options that compose but make no sense together fail before anything is built."""
    if config.max_steps is None and config.max_epochs is None:
        raise ValueError("set trainer.max_steps or trainer.max_epochs (or both); with neither, training never ends")
    if config.nonfinite not in ("stop", "skip"):
        raise ValueError(f"trainer.nonfinite must be stop or skip; got {config.nonfinite!r}")
    for key in ("val_every", "checkpoint_every", "max_steps", "max_epochs", "patience", "average_from"):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise ValueError(f"trainer.{key} must be a positive integer or null; got {value}")
    if config.grad_clip is not None and not config.grad_clip > 0:
        # A negative norm would flip every gradient; 0 would clip everything to nothing.
        raise ValueError(f"trainer.grad_clip must be a positive number or null (no clipping); got {config.grad_clip}")


def train(
    config: DictConfig,
    registry: Registry,
    run_dir: Path,
    overrides: Sequence[str] = (),
    callbacks: Callbacks | None = None,
) -> dict[str, Any]:
    """Fit ``config``, test its best checkpoint, write ``summary.json`` into ``run_dir``; return the summary.

    ``overrides`` are the command line's (``cell.hidden_size=8``): when resuming they say which parts of
    the config to take from the command rather than from the checkpoint. ``callbacks`` maps loop events
    to functions called with the :class:`Loop`. Raises :class:`~seqkit.training.faults.TrainingStopped`
    when the run stops early.
    """
    ranks = distributed.setup()
    # Every rank works in rank 0's run directory, so all of them read the same checkpoint.
    run_dir = Path(ranks.broadcast(str(run_dir)))
    with rundir.owned(run_dir) if ranks.is_main else contextlib.nullcontext():
        return _train(config, registry, run_dir, ranks, overrides, callbacks)


def _train(
    config: DictConfig,
    registry: Registry,
    run_dir: Path,
    ranks: distributed.Ranks,
    overrides: Sequence[str],
    callbacks: Callbacks | None,
) -> dict[str, Any]:
    started = time.monotonic()
    checkpoint_dir = run_dir / "checkpoints"
    resumed_from = resume_path(config.trainer.resume, checkpoint_dir)
    if resumed_from is None and ranks.is_main:
        rundir.check_fresh_start(run_dir, config.trainer.resume, config.trainer.overwrite)
    payload = load_checkpoint(resumed_from) if resumed_from is not None else None
    if payload is not None:
        config, changed = config_for_resume(config, payload.get("config") or {}, overrides)
        if changed:
            log.info("resuming: %s taken from the checkpoint's config", ", ".join(changed))
    trainer_config: TrainerConfig = OmegaConf.to_object(config.trainer)
    check_trainer_config(trainer_config)

    configure_determinism(trainer_config.deterministic)
    device = device_for(trainer_config.device, ranks)
    precision = Precision(trainer_config.precision, device)
    seed_everything(config.seed)
    dataset = build_dataset(config, registry)
    model = build_model(config, registry, dataset.spec).to(device)
    if payload is None and model.extension is not None:
        model.extension.fit(dataset.batches("train"))
    if ranks.rank > 0:
        seed_everything(config.seed + ranks.rank)  # same initial weights, own dropout masks
    optimizer = build_optimizer(model, config.optimizer)
    state = TrainingState(
        model,
        optimizer,
        Schedule(optimizer, config.optimizer, trainer_config.max_steps),
        precision.scaler,
        WeightAverage(model, trainer_config.average_from) if trainer_config.average_from is not None else None,
    )
    train_forward = model
    if ranks.enabled:
        train_forward = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.model.compile:
        train_forward = torch.compile(train_forward)
    # Built now, not after training, so that a wrong sampler config fails before the run starts.
    generates = dataset.vocabulary is not None and config.get("sampler") is not None
    sampler = build_sampler(config, registry) if trainer_config.sample and generates else None

    run_facts = {
        "config": OmegaConf.to_container(config, resolve=True),
        "spec": dataset.spec.to_dict(),
        "artifacts": dataset.artifacts(),
        "device": str(device),
        "precision": precision.name,
        "versions": {"seqkit": __version__, "torch": str(torch.__version__)},
    }
    checkpointer = Checkpointer(checkpoint_dir, state, ranks, run_facts)
    metrics_log = MetricsLog(run_dir / "metrics.csv", enabled=ranks.is_main)
    if payload is not None:
        state.restore(payload, resumed_from, ranks, trainer_config.max_steps)
        source_run = resumed_from.parent.parent if resumed_from.parent.name == "checkpoints" else resumed_from.parent
        metrics_log.load_until(state.progression.step, source_run / "metrics.csv")
        checkpointer.adopt_best(resumed_from)
        progression = state.progression
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d)",
            resumed_from,
            progression.step,
            progression.epoch,
            progression.batch_in_epoch,
        )
    if trainer_config.tensorboard and ranks.is_main:
        purge = state.progression.step + 1 if payload is not None else None
        metrics_log.tensorboard = TensorBoardLog.open(run_dir / "tensorboard", purge)

    stops = faults.StopRequests()
    loop = Loop(
        state,
        dataset,
        trainer_config,
        precision=precision,
        ranks=ranks,
        metrics_log=metrics_log,
        checkpointer=checkpointer,
        stops=stops,
        run_dir=run_dir,
        train_forward=train_forward,
    )
    for event, functions in (callbacks or {}).items():
        for function in functions:
            loop.add_callback(event, function)

    def summary(status: str, **extra: Any) -> dict[str, Any]:
        progression = state.progression
        return {
            "status": status,
            "experiment": config.experiment,
            "steps": progression.step,
            "epochs": progression.epoch,
            "wall_time_s": round(time.monotonic() - started, 2),
            "device": str(device),
            "world_size": ranks.world_size,
            "precision": precision.name,
            "params": sum(p.numel() for p in model.parameters()),
            "seed": config.seed,
            "versions": {"seqkit": __version__, "torch": str(torch.__version__), "python": sys.version.split()[0]},
            "main_metric": loop.main_metric,
            "best_step": progression.best_step,
            "stopped_early": progression.stopped_early,
            "skipped_batches": progression.skipped_batches,
            "resumed_from": str(resumed_from) if resumed_from is not None else None,
            "run_dir": str(run_dir),
            "data": data_files,
            **extra,
        }

    def write_summary(result: dict[str, Any]) -> None:
        if ranks.is_main:
            write_json(run_dir / "summary.json", result)

    data_files = describe_data_files(dataset) if ranks.is_main else []
    with stops.installed():
        try:
            try:
                loop.fit()
                result = summary("completed", **test_and_report(loop, sampler, sample_format_of(config, registry)))
            except KeyboardInterrupt:
                raise faults.interrupted_at_once(state.progression.step, run_dir) from None
        except faults.TrainingStopped as stop:
            stops.finish()
            write_summary(summary(stop.status, error=str(stop)))
            distributed.teardown()  # every rank stops at the same step, so all of them get here
            raise
        except Exception as error:
            stops.finish()
            write_summary(summary("failed", error=f"{type(error).__name__}: {error}"))
            raise
        finally:
            stops.finish()
            close_logs(metrics_log, run_dir, ranks.is_main)
        write_summary(result)
    # The other ranks wait for rank 0's files; a process that exits still in the group crashes in gloo.
    ranks.barrier()
    distributed.teardown()
    return result


def test_and_report(loop: Loop, sampler: Sampler | None, sample_format: Any) -> dict[str, Any]:
    """Reload the best checkpoint, then test, report and sample with it."""
    state, model = loop.state, loop.model
    if loop.checkpointer.best.is_file():
        model.load_state_dict(load_checkpoint(loop.checkpointer.best, map_location=loop.precision.device)["model"])
        state.average = None  # the best weights, averaged or not, are the model's now
    results: dict[str, Any] = {"metrics": {"val": loop.evaluate("val"), "test": loop.evaluate("test")}}
    progression = state.progression
    loop.metrics_log.append(progression.step, progression.epoch, "test", results["metrics"]["test"])
    if not loop.ranks.is_main:
        return results  # reports and samples are files: rank 0's to write
    model.eval()
    device = loop.precision.device
    with preserved_random_states(), torch.no_grad():
        results.update(loop.dataset.report(model, loop.run_dir, device))
        if sampler is not None:
            results["samples"] = sampler.sample(model, loop.dataset.vocabulary, loop.run_dir, sample_format, device)
    results["metrics"]["test"].update(
        model.head.derived_metrics(results["metrics"]["test"], results.get("baselines", {}))
    )
    return results


def describe_data_files(dataset: Dataset) -> list[dict[str, Any]]:
    """Each file the dataset read, with its sha256 and size, so a result can be traced to its data."""
    return [
        {"path": str(path), "sha256": file_sha256(path), "bytes": Path(path).stat().st_size}
        for path in dataset.data_files()
    ]


def close_logs(metrics_log: MetricsLog, run_dir: Path, is_main: bool) -> None:
    """Close TensorBoard and draw ``loss.png``; a failed plot must not hide how the run ended."""
    if metrics_log.tensorboard is not None:
        metrics_log.tensorboard.close()
    if is_main and metrics_log.rows:
        try:
            plot_loss(metrics_log, run_dir / "loss.png")
        except Exception as error:  # noqa: BLE001
            log.warning("could not draw loss.png: %s", error)
