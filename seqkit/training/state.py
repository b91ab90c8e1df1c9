"""What a checkpoint holds, and how a run is restored from it exactly.

A checkpoint holds everything the loop's future depends on: the weights (the running mean's too), the
optimizer, the schedule, the gradient scaler, the position in the epoch, the carried hidden state and
every random generator, so a resumed run on the CPU ends bit-identical to an uninterrupted one. It
also holds what a finished run needs without its data: the config, the data spec and the dataset's
artifacts (vocabulary, scaler).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqkit.checkpoint import CheckpointError, random_states, require_fields, restore_random_states
from seqkit.checkpoint import save_checkpoint as write_checkpoint
from seqkit.distributed import Ranks
from seqkit.errors import error_line
from seqkit.model import SequenceModel
from seqkit.recurrent import StackState
from seqkit.runlog import copy_atomic
from seqkit.training.optim import Schedule, WeightAverage

log = logging.getLogger(__name__)


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


@dataclass
class TrainingState:
    """The live objects a checkpoint captures and restores."""

    model: SequenceModel
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    average: WeightAverage | None = None
    progression: Progression = field(default_factory=Progression)
    #: The hidden state carried from one batch to the next of a stateful dataset.
    carried: StackState | None = None

    @property
    def evaluated_model(self) -> SequenceModel:
        """The weights validation and checkpoints use: the running mean once averaging has begun."""
        if self.average is not None and self.average.steps > 0:
            return self.average.model
        return self.model

    def to_payload(self) -> dict[str, Any]:
        """This process's share of a checkpoint (the bare module's weights: no DDP or compile prefixes)."""
        payload = {
            "model": self.evaluated_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "progression": dataclasses.asdict(self.progression),
        }
        if self.evaluated_model is not self.model:
            payload["training_model"] = self.model.state_dict()
            payload["averaged_steps"] = self.average.steps
        return payload

    def carried_on_cpu(self) -> list[list[torch.Tensor]] | None:
        return [[t.detach().cpu() for t in layer] for layer in self.carried] if self.carried else None

    def restore(self, payload: dict[str, Any], path: Path, ranks: Ranks, max_steps: int | None) -> None:
        """Put every object back where ``payload`` (read from ``path``) found it."""
        require_fields(payload, {"model": dict, "optimizer": dict, "progression": dict, "random": dict}, path)
        try:
            self.model.load_state_dict(payload.get("training_model", payload["model"]))
            if self.average is not None and "training_model" in payload:
                self.average.restore(payload["model"], payload["averaged_steps"])
        except RuntimeError as error:
            raise CheckpointError(
                f"{path} does not fit the model this config builds ({error_line(error)}); a resumed run keeps "
                "its model: drop the cell/model/head/dataset overrides that change it, or start a new run"
            ) from error
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload.get("scheduler"))
        if (
            self.schedule.length is not None
            and payload.get("scheduler") is not None
            and self.schedule.length != max_steps
        ):
            log.warning(
                "the cosine schedule keeps the checkpoint's length (%d steps), not trainer.max_steps",
                self.schedule.length,
            )
        if payload.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(payload["scaler"])
        self.progression = Progression.from_dict(payload["progression"])
        states, carried = payload["random"], payload.get("carried_state")
        if payload.get("world_size", 1) != ranks.world_size:
            # Another number of processes splits the data differently: carried streams start afresh.
            log.warning(
                "%s was written by %d process(es), this run has %d: hidden state restarts, random "
                "streams differ from an uninterrupted run",
                path,
                payload.get("world_size", 1),
                ranks.world_size,
            )
            carried = None
        elif ranks.enabled:
            states, carried = payload["random_by_rank"][ranks.rank], payload["carried_state_by_rank"][ranks.rank]
        restore_random_states(states)
        device = next(self.model.parameters()).device
        self.carried = [tuple(t.to(device) for t in layer) for layer in carried] if carried else None


class Checkpointer:
    """Writes ``checkpoints/<name>``: every rank takes part, rank 0 writes.

    ``run_facts`` is what every checkpoint carries besides the training state (config, data spec,
    dataset artifacts, device, precision, versions).
    """

    def __init__(self, directory: Path, state: TrainingState, ranks: Ranks, run_facts: dict[str, Any]):
        self.directory = directory
        self.state = state
        self.ranks = ranks
        self.run_facts = run_facts

    @property
    def last(self) -> Path:
        return self.directory / "last.pt"

    @property
    def best(self) -> Path:
        return self.directory / "best.pt"

    def save(self, name: str, torch_states: dict[str, Any] | None = None, also_best: bool = False) -> None:
        """Save ``name`` (and a copy as ``best.pt``); ``torch_states`` replaces the torch generators' states,
        to save the moment before a step."""
        states = random_states()
        states.update(torch_states or {})
        carried = self.state.carried_on_cpu()
        states_by_rank = self.ranks.gather(states)
        carried_by_rank = self.ranks.gather(carried)
        if self.ranks.is_main:
            payload = {
                **self.state.to_payload(),
                "carried_state": carried,
                "random": states,
                "world_size": self.ranks.world_size,
                **self.run_facts,
            }
            if self.ranks.enabled:
                payload["random_by_rank"] = states_by_rank
                payload["carried_state_by_rank"] = carried_by_rank
            write_checkpoint(payload, self.directory / name)
            if also_best:
                copy_atomic(self.directory / name, self.best)
        self.ranks.barrier()  # no rank leaves (or exits) before the file is complete

    def adopt_best(self, source: Path) -> None:
        """Carry the ``best.pt`` beside a checkpoint resumed from another run directory into this one."""
        best = source.parent / "best.pt"
        if self.ranks.is_main and best.is_file() and best.resolve() != self.best.resolve():
            self.directory.mkdir(parents=True, exist_ok=True)
            copy_atomic(best, self.best)
