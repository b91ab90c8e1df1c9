"""The training loop, handed built objects: train, validate every N steps, stop early, checkpoint on the way.

One optimizer step per batch; validation every ``trainer.val_every`` steps (or each epoch); early stopping
on the head's main metric. Validating draws from no training random stream, so how often you validate does
not change training. Under ``torchrun`` the ranks agree once per step on what to do next.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from seqkit.checkpoint import torch_random_states
from seqkit.components import Batch, Dataset, Split
from seqkit.config import TrainerConfig
from seqkit.distributed import Ranks
from seqkit.recurrent import StackState, detach_state
from seqkit.runlog import MetricsLog, Progress, format_metrics, progress_bar
from seqkit.runtime import Precision
from seqkit.training import faults
from seqkit.training.evaluate import evaluate
from seqkit.training.state import Checkpointer, Progression, TrainingState

#: Events a callback can follow with ``loop.add_callback(event, callback)``; ``callback(loop)``.
EVENTS: tuple[str, ...] = ("step_end", "validation_end")


class Loop:
    """Fits ``state.model`` on ``dataset``; ``train_forward`` may wrap the model (DDP, ``torch.compile``)."""

    def __init__(
        self,
        state: TrainingState,
        dataset: Dataset,
        config: TrainerConfig,
        *,
        precision: Precision,
        ranks: Ranks,
        metrics_log: MetricsLog,
        checkpointer: Checkpointer,
        stops: faults.StopRequests,
        run_dir: Path,
        train_forward: Callable | None = None,
    ):
        self.state = state
        self.dataset = dataset
        self.config = config
        self.precision = precision
        self.ranks = ranks
        self.metrics_log = metrics_log
        self.checkpointer = checkpointer
        self.stops = stops
        self.run_dir = run_dir
        self.model = state.model
        self.train_forward = train_forward if train_forward is not None else state.model
        # A compiled forward serves evaluation too; a DDP wrapper only training.
        self.evaluation_forward = self.train_forward if not ranks.enabled else state.model
        self.main_metric = state.model.head.main_metric
        self.callbacks: dict[str, list[Callable[[Loop], None]]] = {event: [] for event in EVENTS}

    @property
    def progression(self) -> Progression:
        return self.state.progression

    def add_callback(self, event: str, callback: Callable[[Loop], None]) -> None:
        """Call ``callback(loop)`` at ``event`` (``step_end`` or ``validation_end``)."""
        if event not in self.callbacks:
            raise ValueError(f"unknown trainer event {event!r}; events: {', '.join(EVENTS)}")
        self.callbacks[event].append(callback)

    def _fire(self, event: str) -> None:
        for callback in self.callbacks[event]:
            callback(self)

    # -- validation ---------------------------------------------------------------------------------

    def evaluate(self, split: Split, max_batches: int | None = None) -> dict[str, float]:
        """Metrics of the evaluated model (the running mean once averaging began) on ``split``."""
        model = self.state.evaluated_model
        forward = self.evaluation_forward if model is self.model else model
        return evaluate(
            model, self.dataset, split, self.precision, self.ranks, forward=forward, max_batches=max_batches
        )

    def _validate(self, progress: Progress) -> None:
        progression = self.progression
        metrics = self.evaluate("val", self.config.val_batches)
        progression.validated_at = progression.step
        self.metrics_log.append(progression.step, progression.epoch, "val", metrics)
        value = metrics[self.main_metric]
        improved = value < progression.best_metric
        if improved:
            progression.best_metric, progression.best_step, progression.steps_since_best = value, progression.step, 0
        progress.message(f"step {progression.step} val {format_metrics(metrics)}{' (best)' if improved else ''}")
        if self.config.patience is not None and progression.steps_since_best >= self.config.patience:
            progression.stopped_early = True
        # The decision is rank 0's for everyone: ranks that disagreed here would wait on each other forever.
        progression.stopped_early = bool(self.ranks.broadcast(progression.stopped_early))
        if progression.stopped_early:
            progress.message(f"early stop: no better val {self.main_metric} for {progression.steps_since_best} steps")
        self.checkpointer.save("last.pt", also_best=improved)
        self._fire("validation_end")

    # -- one step -----------------------------------------------------------------------------------

    def _forward_loss(self, batch: Batch) -> tuple[torch.Tensor, StackState]:
        carried = self.state.carried if self.dataset.spec.stateful else None
        with self.precision.autocast():
            predictions, state = self.train_forward(batch.inputs, carried, batch.context)
            loss = self.model.head.loss(predictions, batch.targets)
        return loss, state

    def _optimize(self, loss: torch.Tensor) -> float:
        """Backward and optimizer step; returns the gradient norm (the step is skipped when it is not finite)."""
        scaler, optimizer = self.precision.scaler, self.state.optimizer
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        if self.config.grad_clip:
            norm = float(torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in parameters]))
        # With float16 an overflowing gradient is routine: the scaler skips that step and lowers its scale.
        if math.isfinite(norm) or scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        return norm

    def _nonfinite(self, what: str, before_step: dict[str, Any], progress: Progress) -> None:
        progression = self.progression
        where = f"step {progression.step + 1} (epoch {progression.epoch}, batch {progression.batch_in_epoch})"
        if self.config.nonfinite == "skip":
            progression.skipped_batches += 1
            progress.message(f"{what} at {where}; batch skipped (trainer.nonfinite=skip)", logging.WARNING)
            return
        last = self.checkpointer.last
        if all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self.checkpointer.save("last.pt", torch_states=before_step)
            kept = f"the state before it is saved in {last}"
        else:
            kept = f"the weights are no longer finite; the last good checkpoint is {last}"
        raise faults.nonfinite(what, where, kept, self.run_dir)

    def _interrupted(self) -> None:
        self.checkpointer.save("last.pt")
        raise faults.interrupted(self.stops.signal, self.progression.step, self.checkpointer.last, self.run_dir)

    def _step(self, batch: Batch | None, progress: Progress) -> bool:
        """One training step; False when a rank has run out of batches (the epoch ends for all)."""
        progression, state = self.progression, self.state
        has_batch = batch is not None and len(batch) > 0
        before_step = torch_random_states()
        loss_value = 0.0
        if has_batch:
            loss, hidden = self._forward_loss(batch.to(self.precision.device))
            loss_value = float(loss.detach())
        # One agreement per step, so every rank takes the same branch: out of data, bad loss, stop.
        missing, nonfinite, stopping, loss_sum, batches_here = self.ranks.sum(
            [not has_batch, not math.isfinite(loss_value), self.stops.requested, loss_value, has_batch]
        )
        if missing:
            if batches_here:
                progress.message(
                    f"epoch {progression.epoch}: a rank ran out of batches; the others' last "
                    "batches are dropped (give every rank the same number)",
                    logging.WARNING,
                )
            return False
        loss_value, norm = loss_sum / batches_here, math.nan
        if nonfinite:
            self._nonfinite(f"loss is {loss_value}", before_step, progress)
        else:
            norm = self._optimize(loss)
            if not (math.isfinite(norm) or self.precision.scaler.is_enabled()):
                self._nonfinite(f"gradient norm is {norm}", before_step, progress)
            else:
                if self.dataset.spec.stateful:
                    state.carried = detach_state(hidden)
                if state.average is not None:
                    state.average.update(self.model, progression.step + 1)
        progression.step += 1
        progression.batch_in_epoch += 1
        progression.steps_since_best += 1
        state.schedule.after_step()
        lr = state.optimizer.param_groups[0]["lr"]
        progress.update(progression.step, loss_value, lr)
        if progression.step % max(1, self.config.log_every) == 0:
            self.metrics_log.append(
                progression.step, progression.epoch, "train", {"loss": loss_value, "lr": lr, "grad_norm": norm}
            )
        self._fire("step_end")
        if self.config.val_every and progression.step % self.config.val_every == 0:
            self._validate(progress)
        elif self.config.checkpoint_every and progression.step % self.config.checkpoint_every == 0:
            self.checkpointer.save("last.pt")
        # One process reads its own flag at once; several act on the flag they agreed on above.
        if stopping if self.ranks.enabled else self.stops.requested:
            self._interrupted()
        return True

    # -- epochs -------------------------------------------------------------------------------------

    def _done(self) -> bool:
        config, progression = self.config, self.progression
        out_of_steps = config.max_steps is not None and progression.step >= config.max_steps
        out_of_epochs = config.max_epochs is not None and progression.epoch >= config.max_epochs
        return out_of_steps or out_of_epochs or progression.stopped_early

    def _epoch_batches(self) -> Iterator[Batch]:
        """The current epoch's batches from where training stands (resuming skips those trained on)."""
        progression = self.progression
        if progression.batch_in_epoch == 0:
            self.state.carried = None  # streams restart at each epoch
        batches = iter(self.dataset.batches("train", progression.epoch, shard=self.ranks.shard))
        for _ in range(progression.batch_in_epoch):
            next(batches, None)
        return batches

    def fit(self) -> None:
        """Train until ``max_steps``, ``max_epochs`` or early stopping, validating and checkpointing on the way."""
        progression, config = self.progression, self.config
        with progress_bar(
            config.max_steps, config.progress, config.log_every, progression.step, silent=not self.ranks.is_main
        ) as progress:
            self.model.train()
            while not self._done():
                started_at = progression.step
                batches = self._epoch_batches()
                while not self._done():
                    if not self._step(next(batches, None), progress):
                        break  # the epoch's data ran out
                else:
                    continue  # a limit or early stopping ended training inside the epoch
                if progression.batch_in_epoch == 0 and progression.step == started_at:
                    raise ValueError("the train split yields no batches; make it larger or the batch smaller")
                progression.epoch += 1
                progression.batch_in_epoch = 0
                self.state.schedule.after_epoch()
                if not config.val_every:
                    self._validate(progress)
                if self.ranks.any(self.stops.requested):  # e.g. a signal during the epoch's validation
                    self._interrupted()
            if progression.validated_at != progression.step:
                self._validate(progress)
