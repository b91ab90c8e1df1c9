"""The generic, device-aware training loop: fit, validate, checkpoint, resume, test, sample.

It runs any composition the registry can build, on the CPU, a CUDA GPU, Apple's MPS, or several
processes under ``torchrun`` (``DistributedDataParallel``, rank 0 writing the artifacts). The loop is
deliberately plain: one optimizer step per batch, validation every ``val_every`` steps (or each
epoch), early stopping on the head's main metric, and a summary of everything at the end.

Nothing is lost when a run ends early. SIGINT and SIGTERM (Slurm preemption) finish the current step,
save ``checkpoints/last.pt`` and exit non-zero with the command that resumes. A non-finite loss or
gradient stops the run and saves the state from just before it (or, with ``trainer.nonfinite=skip``,
skips the batch). A checkpoint holds everything the loop's future depends on (weights, optimizer,
schedule, gradient scaler, position in the epoch, carried hidden state, every random generator), so
a resumed run on the CPU ends bit-identical to an uninterrupted one. Evaluation and sampling never
draw from the training random streams, so how often you validate does not change training.

With ``trainer.average_from=N`` the loop also keeps the mean of the weights after each step from step
N on; validation, the checkpoints' ``model`` (so testing and ``seqkit sample``) use the mean, and the
raw weights training continues from are kept as ``training_model``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.swa_utils import AveragedModel

from seqkit import __version__, distributed
from seqkit.assemble import build_dataset, build_model, build_sampler, sample_format_of
from seqkit.checkpoint import (
    CheckpointError,
    config_for_resume,
    load_checkpoint,
    preserved_random_states,
    random_states,
    require_keys,
    restore_random_states,
    resume_path,
    save_checkpoint,
    torch_random_states,
)
from seqkit.components import Batch, Dataset, Split
from seqkit.model import SequenceModel, fit_linear_skip
from seqkit.precision import Precision
from seqkit.recurrent import StackState, detach_state
from seqkit.registry import Registry
from seqkit.runlog import MetricsLog, Progress, TensorBoardLog, format_metrics, plot_loss, progress_bar, write_json

log = logging.getLogger(__name__)

#: Events a callback can follow with ``trainer.add_callback(event, callback)``; ``callback(trainer)``.
EVENTS: tuple[str, ...] = ("step_end", "validation_end")


class TrainingStopped(Exception):
    """Training ended early on purpose (a signal) or by a fault (a non-finite loss); see ``status``."""

    def __init__(self, message: str, status: str, exit_code: int):
        super().__init__(message)
        self.status = status
        self.exit_code = exit_code


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every CUDA device included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(enabled: bool) -> None:
    """``trainer.deterministic``: deterministic kernels where torch has them (a warning where it has not)."""
    if enabled:
        # cuBLAS reads this when CUDA starts; set it before any CUDA work or it has no effect.
        if torch.cuda.is_available() and torch.cuda.is_initialized() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
            log.warning("CUDA started before trainer.deterministic was applied; set CUBLAS_WORKSPACE_CONFIG=:4096:8")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    if enabled:
        torch.backends.cudnn.benchmark = False  # benchmarking picks kernels by timing, which varies


def build_optimizer(model: torch.nn.Module, config: DictConfig) -> torch.optim.Optimizer:
    """Any ``torch.optim`` optimizer by (case-insensitive) name, with the options it accepts."""
    classes = {name.lower(): cls for name, cls in vars(torch.optim).items() if isinstance(cls, type)}
    cls = classes.get(str(config.name).lower())
    if cls is None or not issubclass(cls, torch.optim.Optimizer):
        known = sorted(
            n for n, c in classes.items() if issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer
        )
        raise ValueError(f"unknown optimizer.name {config.name!r}; available: {', '.join(known)}")
    options: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if cls in (torch.optim.SGD, torch.optim.RMSprop):
        options["momentum"] = config.momentum
    if cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adamax):
        options["betas"] = tuple(config.betas)
    if "eps" in cls.__init__.__code__.co_varnames:
        options["eps"] = config.eps
    if cls is torch.optim.Adagrad:
        # The classic Adagrad starts its accumulators at 0.1, which keeps the first steps from exploding.
        options["initial_accumulator_value"] = 0.1
    return cls(model.parameters(), **options)


def build_scheduler(optimizer: torch.optim.Optimizer, config: DictConfig, max_steps: int | None):
    schedule = str(config.schedule)
    if schedule == "constant":
        return None
    if schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    if schedule == "cosine":
        if not max_steps:
            raise ValueError("optimizer.schedule=cosine needs trainer.max_steps")
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_steps)
    raise ValueError(f"unknown optimizer.schedule {schedule!r}; available: constant, exponential, cosine")


@dataclass
class Progression:
    """Where training stands; everything here goes into the checkpoint."""

    step: int = 0
    epoch: int = 0
    #: Batches of the current epoch already trained on (resuming skips them).
    batch_in_epoch: int = 0
    best_metric: float = math.inf
    best_step: int = 0
    steps_since_best: int = 0
    stopped_early: bool = False
    #: The step of the last validation (-1: none yet).
    validated_at: int = -1
    skipped_batches: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progression:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def _check_options(config: DictConfig) -> None:
    if config.max_steps is None and config.max_epochs is None:
        raise ValueError("set trainer.max_steps or trainer.max_epochs (or both); with neither, training never ends")
    if config.nonfinite not in ("stop", "skip"):
        raise ValueError(f"trainer.nonfinite must be stop or skip; got {config.nonfinite!r}")
    for key in ("val_every", "checkpoint_every", "max_steps", "max_epochs", "patience", "average_from"):
        value = config.get(key)
        if value is not None and value < (0 if key == "max_epochs" else 1):
            raise ValueError(f"trainer.{key} must be a positive integer or null; got {value}")


def _copy_atomic(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.copy.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


class Trainer:
    """Fits one composed configuration and leaves its artifacts in ``run_dir``.

    ``overrides`` are the command line's config overrides (``cell.hidden_size=8``); when resuming
    they say which parts of the config to take from the command rather than from the checkpoint.
    """

    def __init__(self, config: DictConfig, registry: Registry, run_dir: Path, overrides: Sequence[str] = ()):
        self.ranks = distributed.setup()
        # Every rank works in rank 0's run directory, so all of them read the same checkpoint.
        self.run_dir = Path(self.ranks.broadcast(str(run_dir)))
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.resume_path = resume_path(config.trainer.resume, self.checkpoint_dir)
        payload = load_checkpoint(self.resume_path) if self.resume_path is not None else None
        if payload is not None:
            config, changed = config_for_resume(config, payload.get("config") or {}, overrides)
            if changed:
                log.info("resuming: %s taken from the checkpoint's config", ", ".join(changed))
        self.config = config
        self.trainer_config = config.trainer
        _check_options(self.trainer_config)
        self.registry = registry
        if self.ranks.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if payload is None and (self.checkpoint_dir / "last.pt").is_file():
                log.warning(
                    "%s holds a checkpoint; this fresh run overwrites it (trainer.resume=auto continues it)",
                    self.run_dir,
                )
        configure_determinism(bool(self.trainer_config.deterministic))
        self.device = distributed.device_for(str(self.trainer_config.device), self.ranks)
        self.precision = Precision(str(self.trainer_config.precision), self.device)
        seed_everything(config.seed)
        self.dataset: Dataset = build_dataset(config, registry)
        self.model: SequenceModel = build_model(config, registry, self.dataset.spec).to(self.device)
        if payload is None and config.model.get("linear_skip_init", "random") == "least_squares":
            fit_linear_skip(self.model, self.dataset.batches("train"))
        if self.ranks.rank > 0:
            seed_everything(config.seed + self.ranks.rank)  # same initial weights, own dropout masks
        self.optimizer = build_optimizer(self.model, config.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config.optimizer, self.trainer_config.max_steps)
        self.train_forward: Callable = self.model
        self.evaluation_forward: Callable = self.model
        if self.ranks.enabled:
            self.train_forward = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if config.model.get("compile", False):
            self.train_forward = torch.compile(self.train_forward)
            if not self.ranks.enabled:
                self.evaluation_forward = self.train_forward
        self.main_metric = self.model.head.main_metric
        # Built now, not after training, so that a wrong sampler config fails before the run starts.
        generates = self.dataset.vocabulary is not None and config.get("sampler") is not None
        self.sampler = build_sampler(config, registry) if self.trainer_config.sample and generates else None
        self.averaged = AveragedModel(self.model) if self.trainer_config.get("average_from") is not None else None
        self.progression = Progression()
        self.carried_state: StackState | None = None
        self.metrics_log = MetricsLog(self.run_dir / "metrics.csv", enabled=self.ranks.is_main)
        self.stop_signal: int | None = None
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = {event: [] for event in EVENTS}
        self.started = time.monotonic()
        if payload is not None:
            self._restore(payload, self.resume_path)
        if self.trainer_config.tensorboard and self.ranks.is_main:
            purge = self.progression.step + 1 if payload is not None else None
            self.metrics_log.tensorboard = TensorBoardLog.open(self.run_dir / "tensorboard", purge)

    @property
    def evaluated_model(self) -> SequenceModel:
        """The weights validation and checkpoints use: the running mean once averaging has begun."""
        if self.averaged is not None and int(self.averaged.n_averaged) > 0:
            return self.averaged.module
        return self.model

    def add_callback(self, event: str, callback: Callable[[Trainer], None]) -> None:
        """Call ``callback(trainer)`` at ``event`` (``step_end`` or ``validation_end``)."""
        if event not in self.callbacks:
            raise ValueError(f"unknown trainer event {event!r}; events: {', '.join(EVENTS)}")
        self.callbacks[event].append(callback)

    def _fire(self, event: str) -> None:
        for callback in self.callbacks[event]:
            callback(self)

    # -- checkpoints --------------------------------------------------------------------------------

    def save(self, name: str, torch_states: dict[str, Any] | None = None, also_best: bool = False) -> None:
        """Write ``checkpoints/<name>`` (and a copy as ``best.pt``); every rank takes part, rank 0 writes.

        ``torch_states`` replaces the torch generators' states, to save the moment before a step.
        """
        states = random_states()
        states.update(torch_states or {})
        carried = [[t.detach().cpu() for t in layer] for layer in self.carried_state] if self.carried_state else None
        states_by_rank = self.ranks.gather(states)
        carried_by_rank = self.ranks.gather(carried)
        if self.ranks.is_main:
            payload = {
                # The bare module's weights: no DistributedDataParallel or torch.compile prefixes.
                "model": self.evaluated_model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "scaler": self.precision.scaler.state_dict() if self.precision.scaler.is_enabled() else None,
                "progression": dataclasses.asdict(self.progression),
                "carried_state": carried,
                "random": states,
                "world_size": self.ranks.world_size,
                "config": OmegaConf.to_container(self.config, resolve=True),
                "spec": self.dataset.spec.to_dict(),
                "artifacts": self.dataset.artifacts(),
                "device": str(self.device),
                "precision": self.precision.name,
                "versions": {"seqkit": __version__, "torch": str(torch.__version__)},
            }
            if self.evaluated_model is not self.model:
                payload["training_model"] = self.model.state_dict()
                payload["averaged_steps"] = int(self.averaged.n_averaged)
            if self.ranks.enabled:
                payload["random_by_rank"] = states_by_rank
                payload["carried_state_by_rank"] = carried_by_rank
            save_checkpoint(payload, self.checkpoint_dir / name)
            if also_best:
                _copy_atomic(self.checkpoint_dir / name, self.checkpoint_dir / "best.pt")
        self.ranks.barrier()  # no rank leaves (or exits) before the file is complete

    def _restore(self, payload: dict[str, Any], path: Path) -> None:
        require_keys(payload, ("model", "optimizer", "progression", "random"), path)
        try:
            self.model.load_state_dict(payload.get("training_model", payload["model"]))
            if self.averaged is not None and "training_model" in payload:
                self.averaged.module.load_state_dict(payload["model"])
                self.averaged.n_averaged.fill_(payload["averaged_steps"])
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else lines[0]  # the first line only says loading failed
            raise CheckpointError(
                f"{path} does not fit the model this config builds ({detail}); a resumed run keeps its "
                "model: drop the cell/model/head/dataset overrides that change it, or start a new run"
            ) from error
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload.get("scheduler") is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
            if getattr(self.scheduler, "T_max", self.trainer_config.max_steps) != self.trainer_config.max_steps:
                log.warning(
                    "the cosine schedule keeps the checkpoint's length (%d steps), not trainer.max_steps",
                    self.scheduler.T_max,
                )
        if payload.get("scaler") and self.precision.scaler.is_enabled():
            self.precision.scaler.load_state_dict(payload["scaler"])
        self.progression = Progression.from_dict(payload["progression"])
        states, carried = payload["random"], payload.get("carried_state")
        if payload.get("world_size", 1) != self.ranks.world_size:
            # Another number of processes splits the data differently: carried streams start afresh.
            log.warning(
                "%s was written by %d process(es), this run has %d: hidden state restarts, random "
                "streams differ from an uninterrupted run",
                path,
                payload.get("world_size", 1),
                self.ranks.world_size,
            )
            carried = None
        elif self.ranks.enabled:
            states, carried = (
                payload["random_by_rank"][self.ranks.rank],
                payload["carried_state_by_rank"][self.ranks.rank],
            )
        restore_random_states(states)
        self.carried_state = [tuple(t.to(self.device) for t in layer) for layer in carried] if carried else None
        source_run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        self.metrics_log.load_until(self.progression.step, source_run / "metrics.csv")
        best = path.parent / "best.pt"
        if self.ranks.is_main and best.is_file() and best.resolve() != (self.checkpoint_dir / "best.pt").resolve():
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            _copy_atomic(best, self.checkpoint_dir / "best.pt")
        log.info(
            "resumed from %s at step %d (epoch %d, batch %d)",
            path,
            self.progression.step,
            self.progression.epoch,
            self.progression.batch_in_epoch,
        )

    # -- evaluation ---------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: Split, max_batches: int | None = None) -> dict[str, float]:
        """Metrics of the current model on ``split`` (over all ranks), leaving every random stream untouched."""
        model = self.evaluated_model
        forward = self.evaluation_forward if model is self.model else model
        was_training = model.training
        model.eval()
        stateful = self.dataset.spec.stateful
        sums: dict[str, float] = {}
        state: StackState | None = None
        try:
            with preserved_random_states():
                for index, batch in enumerate(self.dataset.batches(split, shard=self.ranks.shard)):
                    if max_batches is not None and index >= max_batches:
                        break
                    if len(batch) == 0:
                        continue
                    batch = batch.to(self.device)
                    with self.precision.autocast():
                        predictions, state = forward(batch.inputs, state if stateful else None, batch.context)
                    for key, value in model.head.metric_sums(predictions, batch.targets).items():
                        sums[key] = sums.get(key, 0.0) + value
        finally:
            model.train(was_training)
        sums = self.ranks.sum_dicts(sums)
        if not sums:
            raise ValueError(f"the {split} split yields no batches; make it larger or the batch smaller")
        return self.model.head.metrics(sums)

    # -- training -----------------------------------------------------------------------------------

    def _done(self) -> bool:
        config, progression = self.trainer_config, self.progression
        if config.max_steps is not None and progression.step >= config.max_steps:
            return True
        if config.max_epochs is not None and progression.epoch >= config.max_epochs:
            return True
        return progression.stopped_early

    def _validate(self, progress: Progress) -> None:
        progression = self.progression
        metrics = self.evaluate("val", self.trainer_config.val_batches)
        progression.validated_at = progression.step
        self.metrics_log.append(progression.step, progression.epoch, "val", metrics)
        value = metrics[self.main_metric]
        improved = value < progression.best_metric
        if improved:
            progression.best_metric, progression.best_step, progression.steps_since_best = value, progression.step, 0
        progress.message(f"step {progression.step} val {format_metrics(metrics)}{' (best)' if improved else ''}")
        patience = self.trainer_config.patience
        if patience is not None and progression.steps_since_best >= patience:
            progression.stopped_early = True
        # The decision is rank 0's for everyone: ranks that disagreed here would wait on each other forever.
        progression.stopped_early = bool(self.ranks.broadcast(progression.stopped_early))
        if progression.stopped_early:
            progress.message(f"early stop: no better val {self.main_metric} for {progression.steps_since_best} steps")
        self.save("last.pt", also_best=improved)
        self._fire("validation_end")

    def _forward_loss(self, batch: Batch) -> tuple[torch.Tensor, StackState]:
        carried = self.carried_state if self.dataset.spec.stateful else None
        with self.precision.autocast():
            predictions, state = self.train_forward(batch.inputs, carried, batch.context)
            loss = self.model.head.loss(predictions, batch.targets)
        return loss, state

    def _optimize(self, loss: torch.Tensor) -> float:
        """Backward and optimizer step; returns the gradient norm (the step is skipped when it is not finite)."""
        scaler = self.precision.scaler
        self.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(self.optimizer)
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        if self.trainer_config.grad_clip:
            norm = float(torch.nn.utils.clip_grad_norm_(parameters, self.trainer_config.grad_clip))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in parameters]))
        # With float16 an overflowing gradient is routine: the scaler skips that step and lowers its scale.
        if math.isfinite(norm) or scaler.is_enabled():
            scaler.step(self.optimizer)
            scaler.update()
        return norm

    def _nonfinite(self, what: str, before_step: dict[str, Any], progress: Progress) -> None:
        progression = self.progression
        where = f"step {progression.step + 1} (epoch {progression.epoch}, batch {progression.batch_in_epoch})"
        if self.trainer_config.nonfinite == "skip":
            progression.skipped_batches += 1
            progress.message(f"{what} at {where}; batch skipped (trainer.nonfinite=skip)", logging.WARNING)
            return
        last = self.checkpoint_dir / "last.pt"
        if all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self.save("last.pt", torch_states=before_step)
            kept = f"the state before it is saved in {last}"
        else:
            kept = f"the weights are no longer finite; the last good checkpoint is {last}"
        raise TrainingStopped(
            f"{what} at {where}; training stopped and {kept}. Lower optimizer.lr, set trainer.grad_clip, or "
            f"resume with trainer.resume=auto hydra.run.dir={self.run_dir} trainer.nonfinite=skip "
            "to skip such batches.",
            status="failed",
            exit_code=1,
        )

    def _interrupted(self) -> None:
        self.save("last.pt")
        name = signal.Signals(self.stop_signal).name if self.stop_signal else "a stop request on another rank"
        raise TrainingStopped(
            f"{name} received at step {self.progression.step}; checkpoint saved to {self.checkpoint_dir / 'last.pt'}. "
            f"Resume with the same command plus: trainer.resume=auto hydra.run.dir={self.run_dir}",
            status="stopped",
            exit_code=128 + (self.stop_signal or signal.SIGTERM),
        )

    def _train_epoch(self, progress: Progress) -> bool:
        """Train on the rest of the current epoch; True when the epoch's data ran out (not a stop or a limit)."""
        progression, config = self.progression, self.trainer_config
        if progression.batch_in_epoch == 0:
            self.carried_state = None  # streams restart at each epoch
        batches = iter(self.dataset.batches("train", progression.epoch, shard=self.ranks.shard))
        for _ in range(progression.batch_in_epoch):
            next(batches, None)  # trained on before the interruption: replay the epoch up to there
        while not self._done():
            batch = next(batches, None)
            has_batch = batch is not None and len(batch) > 0
            before_step = torch_random_states()
            loss_value = 0.0
            if has_batch:
                loss, state = self._forward_loss(batch.to(self.device))
                loss_value = float(loss.detach())
            finite = math.isfinite(loss_value)
            # One agreement per step, so every rank takes the same branch: out of data, bad loss, stop.
            missing, nonfinite, stopping, loss_sum, batches_here = self.ranks.sum(
                [not has_batch, not finite, self.stop_signal is not None, loss_value, has_batch]
            )
            if missing:
                if batches_here:
                    progress.message(
                        f"epoch {progression.epoch}: a rank ran out of batches; the others' last "
                        "batches are dropped (give every rank the same number)",
                        logging.WARNING,
                    )
                return True
            loss_value = loss_sum / batches_here
            norm = math.nan
            if nonfinite:
                self._nonfinite(f"loss is {loss_value}", before_step, progress)
            else:
                norm = self._optimize(loss)
                if not (math.isfinite(norm) or self.precision.scaler.is_enabled()):
                    self._nonfinite(f"gradient norm is {norm}", before_step, progress)
                else:
                    if self.dataset.spec.stateful:
                        self.carried_state = detach_state(state)
                    if self.averaged is not None and progression.step + 1 >= config.average_from:
                        self.averaged.update_parameters(self.model)
            progression.step += 1
            progression.batch_in_epoch += 1
            progression.steps_since_best += 1
            if self.scheduler is not None and str(self.config.optimizer.schedule) == "cosine":
                self.scheduler.step()
            lr = self.optimizer.param_groups[0]["lr"]
            progress.update(progression.step, loss_value, lr)
            if progression.step % max(1, config.log_every) == 0:
                row = {"loss": loss_value, "lr": lr, "grad_norm": norm}
                self.metrics_log.append(progression.step, progression.epoch, "train", row)
            self._fire("step_end")
            if config.val_every and progression.step % config.val_every == 0:
                self._validate(progress)
            elif config.get("checkpoint_every") and progression.step % config.checkpoint_every == 0:
                self.save("last.pt")
            # One process reads its own flag at once; several act on the flag they agreed on above.
            if stopping if self.ranks.enabled else self.stop_signal is not None:
                self._interrupted()
        return False

    def fit(self) -> None:
        """Train until ``max_steps``, ``max_epochs`` or early stopping, validating and checkpointing on the way."""
        progression, config = self.progression, self.trainer_config
        with progress_bar(
            config.max_steps, config.progress, config.log_every, progression.step, silent=not self.ranks.is_main
        ) as progress:
            self.model.train()
            while not self._done():
                started_at = progression.step
                if not self._train_epoch(progress):
                    continue
                if progression.batch_in_epoch == 0 and progression.step == started_at:
                    raise ValueError("the train split yields no batches; make it larger or the batch smaller")
                progression.epoch += 1
                progression.batch_in_epoch = 0
                if self.scheduler is not None and str(self.config.optimizer.schedule) == "exponential":
                    self.scheduler.step()
                if not config.val_every:
                    self._validate(progress)
                if self.ranks.any(self.stop_signal is not None):  # e.g. a signal during the epoch's validation
                    self._interrupted()
            if progression.validated_at != progression.step:
                self._validate(progress)

    # -- the whole run ------------------------------------------------------------------------------

    def test_best(self) -> dict[str, Any]:
        """Reload the best checkpoint, then test, report and sample with it."""
        best = self.checkpoint_dir / "best.pt"
        if best.is_file():
            self.model.load_state_dict(load_checkpoint(best, map_location=self.device)["model"])
            self.averaged = None  # the best weights, averaged or not, are the model's now
        results: dict[str, Any] = {"metrics": {"val": self.evaluate("val"), "test": self.evaluate("test")}}
        self.metrics_log.append(self.progression.step, self.progression.epoch, "test", results["metrics"]["test"])
        if not self.ranks.is_main:
            return results  # reports and samples are files: rank 0's to write
        report = getattr(self.dataset, "report", None)
        self.model.eval()
        with preserved_random_states(), torch.no_grad():
            if callable(report):
                results.update(report(self.model, self.run_dir, self.device))
            if self.sampler is not None:
                results["samples"] = self.sampler.sample(
                    self.model,
                    self.dataset.vocabulary,
                    self.run_dir,
                    sample_format_of(self.config, self.registry),
                    self.device,
                )
        test_mse = results["metrics"]["test"].get("mse")
        for name, baseline in results.get("baselines", {}).items():
            if test_mse is not None and baseline.get("mse"):
                results["metrics"]["test"][f"skill_vs_{name}"] = 1.0 - test_mse / baseline["mse"]
        return results

    def summary(self, status: str, **extra: Any) -> dict[str, Any]:
        progression = self.progression
        return {
            "status": status,
            "experiment": self.config.experiment,
            "steps": progression.step,
            "epochs": progression.epoch,
            "wall_time_s": round(time.monotonic() - self.started, 2),
            "device": str(self.device),
            "world_size": self.ranks.world_size,
            "precision": self.precision.name,
            "params": sum(p.numel() for p in self.model.parameters()),
            "seed": self.config.seed,
            "versions": {"seqkit": __version__, "torch": str(torch.__version__), "python": sys.version.split()[0]},
            "main_metric": self.main_metric,
            "best_step": progression.best_step,
            "stopped_early": progression.stopped_early,
            "skipped_batches": progression.skipped_batches,
            "resumed_from": str(self.resume_path) if self.resume_path is not None else None,
            "run_dir": str(self.run_dir),
            **extra,
        }

    def _write_summary(self, summary: dict[str, Any]) -> None:
        if self.ranks.is_main:
            write_json(self.run_dir / "summary.json", summary)

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signals reach the main thread only

        def request_stop(signum, _frame) -> None:
            if self.stop_signal is not None:
                raise KeyboardInterrupt  # a second signal: stop at once, without saving
            self.stop_signal = signum

        return {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def run(self) -> dict[str, Any]:
        """Fit, test on the best checkpoint, write ``summary.json``; return the summary."""
        previous = self._install_signal_handlers()
        try:
            try:
                self.fit()
                summary = self.summary("completed", **self.test_best())
            except KeyboardInterrupt:
                raise TrainingStopped(
                    f"stopped at once at step {self.progression.step} by a second signal, without saving; "
                    f"resume from the last checkpoint with trainer.resume=auto hydra.run.dir={self.run_dir}",
                    status="stopped",
                    exit_code=128 + signal.SIGINT,
                ) from None
        except TrainingStopped as stop:
            self._write_summary(self.summary(stop.status, error=str(stop)))
            distributed.teardown()  # every rank stops at the same step, so all of them get here
            raise
        except Exception as error:
            self._write_summary(self.summary("failed", error=f"{type(error).__name__}: {error}"))
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close()
        self._write_summary(summary)
        # The other ranks wait for rank 0's files; a process that exits still in the group crashes in gloo.
        self.ranks.barrier()
        distributed.teardown()
        return summary

    def _close(self) -> None:
        if self.metrics_log.tensorboard is not None:
            self.metrics_log.tensorboard.close()
        if self.ranks.is_main and self.metrics_log.rows:
            try:
                plot_loss(self.metrics_log, self.run_dir / "loss.png")
            except Exception as error:  # noqa: BLE001 - a failed plot must not hide how the run ended
                log.warning("could not draw loss.png: %s", error)
