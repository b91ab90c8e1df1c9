"""The generic, device-aware training loop: fit, validate, checkpoint, resume, test, sample.

It runs any composition the registry can build. The loop is deliberately plain: one optimizer step per
batch, validation every ``val_every`` steps (or each epoch), early stopping on the head's main metric,
atomic checkpoints that make resuming bit-identical on CPU, and a summary of everything at the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from seqkit import __version__
from seqkit.assemble import build_dataset, build_model, build_sampler, resolve_device, sample_format_of
from seqkit.checkpoint import load_checkpoint, random_states, restore_random_states, save_checkpoint
from seqkit.components import Batch, Dataset, Split
from seqkit.model import SequenceModel
from seqkit.recurrent import StackState, detach_state
from seqkit.registry import Registry
from seqkit.runlog import MetricsLog, Progress, format_metrics, plot_loss, write_json

log = logging.getLogger(__name__)


class TrainingStopped(Exception):
    """Training ended early on purpose (a signal) or by a fault (a non-finite loss); see ``status``."""

    def __init__(self, message: str, status: str, exit_code: int):
        super().__init__(message)
        self.status = status
        self.exit_code = exit_code


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
    batch_in_epoch: int = 0
    best_metric: float = math.inf
    best_step: int = 0
    steps_since_best: int = 0
    stopped_early: bool = False


class Trainer:
    """Fits one composed configuration and leaves its artifacts in ``run_dir``."""

    def __init__(self, config: DictConfig, registry: Registry, run_dir: Path):
        self.config = config
        self.trainer_config = config.trainer
        self.registry = registry
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir = run_dir / "checkpoints"
        if self.trainer_config.max_steps is None and self.trainer_config.max_epochs is None:
            raise ValueError("set trainer.max_steps or trainer.max_epochs (or both); with neither, training never ends")
        seed_everything(config.seed)
        self.device = resolve_device(self.trainer_config.device)
        self.dataset: Dataset = build_dataset(config, registry)
        self.model: SequenceModel = build_model(config, registry, self.dataset.spec).to(self.device)
        self.forward = torch.compile(self.model) if config.model.compile else self.model
        self.optimizer = build_optimizer(self.model, config.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config.optimizer, self.trainer_config.max_steps)
        self.main_metric = self.model.head.main_metric
        self.progression = Progression()
        self.carried_state: StackState | None = None
        self.metrics_log = MetricsLog(run_dir / "metrics.csv")
        self.stop_signal: int | None = None
        self.validated_at: int | None = None
        self.started = time.monotonic()

    # -- checkpoints --------------------------------------------------------------------------------

    def _payload(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "progression": vars(self.progression).copy(),
            "carried_state": [list(layer) for layer in self.carried_state] if self.carried_state else None,
            "random": random_states(),
            "config": OmegaConf.to_container(self.config, resolve=True),
            "spec": self.dataset.spec.to_dict(),
            "artifacts": self.dataset.artifacts(),
            "versions": {"seqkit": __version__, "torch": str(torch.__version__)},
        }

    def save(self, name: str) -> None:
        save_checkpoint(self._payload(), self.checkpoint_dir / name)

    def resume_from(self, path: Path) -> None:
        payload = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload.get("scheduler") is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        self.progression = Progression(**payload["progression"])
        carried = payload.get("carried_state")
        self.carried_state = [tuple(t.to(self.device) for t in layer) for layer in carried] if carried else None
        restore_random_states(payload["random"])
        self.metrics_log.load_until(self.progression.step)
        log.info("resumed from %s at step %d (epoch %d)", path, self.progression.step, self.progression.epoch)

    def resolve_resume(self) -> Path | None:
        resume = self.trainer_config.resume
        if resume in (None, "", "none", False):
            return None
        if resume == "auto":
            last = self.checkpoint_dir / "last.pt"
            return last if last.is_file() else None
        path = Path(str(resume)).expanduser()
        if path.is_dir():
            path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
        return path

    # -- evaluation ---------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: Split, max_batches: int | None = None) -> dict[str, float]:
        """Metrics of the current model on ``split``, leaving every random stream untouched."""
        was_training = self.model.training
        self.model.eval()
        sums: dict[str, float] = {}
        state: StackState | None = None
        with torch.random.fork_rng(devices=[]):
            for index, batch in enumerate(self.dataset.batches(split)):
                if max_batches is not None and index >= max_batches:
                    break
                batch = batch.to(self.device)
                with self._autocast():
                    predictions, state = self.forward(batch.inputs, state if self.dataset.spec.stateful else None)
                for key, value in self.model.head.metric_sums(predictions, batch.targets).items():
                    sums[key] = sums.get(key, 0.0) + value
        self.model.train(was_training)
        if not sums:
            raise ValueError(f"the {split} split yields no batches; make it larger or the batch smaller")
        return self.model.head.metrics(sums)

    def _autocast(self):
        precision = str(self.trainer_config.precision)
        if precision == "32":
            return contextlib.nullcontext()
        dtype = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision)
        if dtype is None:
            raise ValueError(f"trainer.precision must be 32, bf16 or 16; got {precision!r}")
        return torch.autocast(device_type=self.device.type, dtype=dtype)

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
        self.validated_at = progression.step
        self.metrics_log.append(progression.step, progression.epoch, "val", metrics)
        value = metrics[self.main_metric]
        improved = value < progression.best_metric
        if improved:
            progression.best_metric, progression.best_step, progression.steps_since_best = value, progression.step, 0
        progress.message(f"step {progression.step} val {format_metrics(metrics)}{' (best)' if improved else ''}")
        patience = self.trainer_config.patience
        if patience is not None and progression.steps_since_best >= patience:
            progression.stopped_early = True
            progress.message(f"early stop: no better val {self.main_metric} for {progression.steps_since_best} steps")
        self.save("last.pt")
        if improved:
            self.save("best.pt")

    def _train_step(self, batch: Batch) -> float:
        spec_stateful = self.dataset.spec.stateful
        with self._autocast():
            predictions, state = self.forward(batch.inputs, self.carried_state if spec_stateful else None)
            loss = self.model.head.loss(predictions, batch.targets)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            return loss_value
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.trainer_config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.trainer_config.grad_clip)
        self.optimizer.step()
        if spec_stateful:
            self.carried_state = detach_state(state)
        return loss_value

    def _on_nonfinite(self, loss_value: float, progress: Progress) -> None:
        step = self.progression.step + 1
        if self.trainer_config.nonfinite == "skip":
            progress.message(f"step {step}: loss is {loss_value}; batch skipped (trainer.nonfinite=skip)")
            return
        raise TrainingStopped(
            f"loss became {loss_value} at step {step}; training stopped. The last good checkpoint is "
            f"{self.checkpoint_dir / 'last.pt'}. Lower optimizer.lr, set trainer.grad_clip, or use "
            "trainer.nonfinite=skip to skip such batches.",
            status="failed",
            exit_code=1,
        )

    def _interrupted(self) -> None:
        self.save("last.pt")
        name = signal.Signals(self.stop_signal).name if self.stop_signal else "signal"
        raise TrainingStopped(
            f"{name} received at step {self.progression.step}; checkpoint saved to {self.checkpoint_dir / 'last.pt'}. "
            f"Resume with the same command plus: trainer.resume=auto hydra.run.dir={self.run_dir}",
            status="stopped",
            exit_code=128 + (self.stop_signal or 2),
        )

    def fit(self) -> None:
        resume_path = self.resolve_resume()
        if resume_path is not None:
            self.resume_from(resume_path)
        progression = self.progression
        total = self.trainer_config.max_steps
        progress = Progress(total, self.trainer_config.progress, self.trainer_config.log_every, progression.step)
        val_every = self.trainer_config.val_every
        self.model.train()
        try:
            while not self._done():
                skip = progression.batch_in_epoch
                if skip == 0:
                    self.carried_state = None  # streams restart at each epoch
                for index, batch in enumerate(self.dataset.batches("train", progression.epoch)):
                    if index < skip:
                        continue  # already trained on before the interruption
                    loss_value = self._train_step(batch.to(self.device))
                    if not math.isfinite(loss_value):
                        self._on_nonfinite(loss_value, progress)
                    progression.step += 1
                    progression.batch_in_epoch = index + 1
                    progression.steps_since_best += 1
                    if self.scheduler is not None and str(self.config.optimizer.schedule) == "cosine":
                        self.scheduler.step()
                    lr = self.optimizer.param_groups[0]["lr"]
                    progress.update(progression.step, loss_value, lr)
                    if progression.step % max(1, self.trainer_config.log_every) == 0:
                        self.metrics_log.append(
                            progression.step, progression.epoch, "train", {"loss": loss_value, "lr": lr}
                        )
                    if val_every and progression.step % val_every == 0:
                        self._validate(progress)
                    if self.stop_signal is not None:
                        self._interrupted()
                    if self._done():
                        break
                else:
                    progression.epoch += 1
                    progression.batch_in_epoch = 0
                    if self.scheduler is not None and str(self.config.optimizer.schedule) == "exponential":
                        self.scheduler.step()
                    if not val_every:
                        self._validate(progress)
                if progression.batch_in_epoch == 0 and progression.step == 0:
                    raise ValueError("the train split yields no batches; make it larger or the batch smaller")
            if self.validated_at != progression.step:
                self._validate(progress)
        finally:
            progress.close()

    # -- the whole run ------------------------------------------------------------------------------

    def test_best(self) -> dict[str, Any]:
        """Reload the best checkpoint, then test, report and sample with it."""
        best = self.checkpoint_dir / "best.pt"
        if best.is_file():
            self.model.load_state_dict(load_checkpoint(best, map_location=self.device)["model"])
        results: dict[str, Any] = {"metrics": {"val": self.evaluate("val"), "test": self.evaluate("test")}}
        report = getattr(self.dataset, "report", None)
        if callable(report):
            self.model.eval()
            with torch.no_grad():
                results.update(report(self.model, self.run_dir, self.device))
        test_mse = results["metrics"]["test"].get("mse")
        for name, baseline in results.get("baselines", {}).items():
            if test_mse is not None and baseline.get("mse"):
                results["metrics"]["test"][f"skill_vs_{name}"] = 1.0 - test_mse / baseline["mse"]
        sampler = build_sampler(self.config, self.registry) if self.trainer_config.sample else None
        if sampler is not None and self.dataset.vocabulary is not None:
            with torch.random.fork_rng(devices=[]):
                results["samples"] = sampler.sample(
                    self.model,
                    self.dataset.vocabulary,
                    self.run_dir,
                    sample_format_of(self.config, self.registry),
                    self.device,
                )
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
            "params": sum(p.numel() for p in self.model.parameters()),
            "seed": self.config.seed,
            "versions": {"seqkit": __version__, "torch": str(torch.__version__), "python": sys.version.split()[0]},
            "best_step": progression.best_step,
            "stopped_early": progression.stopped_early,
            "run_dir": str(self.run_dir),
            **extra,
        }

    def run(self) -> dict[str, Any]:
        """Fit, test on the best checkpoint, write ``summary.json``; return the summary."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only

            def request_stop(signum, _frame) -> None:
                self.stop_signal = signum

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        try:
            self.fit()
            summary = self.summary("completed", **self.test_best())
        except TrainingStopped as stop:
            write_json(self.run_dir / "summary.json", self.summary(stop.status, error=str(stop)))
            raise
        except Exception as error:
            write_json(self.run_dir / "summary.json", self.summary("failed", error=f"{type(error).__name__}: {error}"))
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.metrics_log.rows:
                plot_loss(self.metrics_log, self.run_dir / "loss.png")
        write_json(self.run_dir / "summary.json", summary)
        return summary
