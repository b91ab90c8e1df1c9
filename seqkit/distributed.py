"""Several processes, one training run: torchrun's environment, the process group, and ranks that agree.

Under ``torchrun --nproc_per_node=N seqkit ...`` every process runs the same command. The trainer
asks :func:`setup` for a :class:`Ranks` object; it joins the process group (gloo for CPU tensors,
nccl for CUDA ones), gives each rank its share of the batches, and offers the few collective
operations the loop needs: sums over ranks, agreed flags, and rank 0's value of anything. Without
torchrun the same object describes one process and every operation is a no-op.

Hydra computes the run directory in every process, and ``${now:...}`` can differ between ranks by
a second. :class:`SharedRunDirectory`, a Hydra callback, makes every rank use rank 0's directory
and keeps the other ranks from writing Hydra's own files there::

    hydra:
      callbacks:
        shared_run_dir:
          _target_: seqkit.distributed.SharedRunDirectory
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

log = logging.getLogger(__name__)

#: Whether this module started the process group (and so may end it).
_STARTED_HERE = False


def is_main_process() -> bool:
    """True in a single process and in rank 0 of a torchrun job (read from the environment)."""
    return int(os.environ.get("RANK", "0")) == 0


def launched_by_torchrun() -> bool:
    """True in a process torchrun started as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes, and the collectives the loop uses."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """``(rank, world_size)``, as a dataset's ``batches(..., shard=...)`` expects it."""
        return self.rank, self.world_size

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over ranks (float64), in one all-reduce."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on at least one."""
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.enabled:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def sum_dicts(self, sums: dict[str, float]) -> dict[str, float]:
        """Per-key sums of additive statistics over ranks (a rank without batches contributes nothing)."""
        if not self.enabled:
            return dict(sums)
        total: dict[str, float] = {}
        for part in self.gather(sums):
            for key, value in part.items():
                total[key] = total.get(key, 0.0) + value
        return total

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def _collective_device() -> torch.device:
    # A group started here routes CPU tensors through gloo; a group someone started with nccl alone
    # needs CUDA tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def setup() -> Ranks:
    """Join torchrun's process group (once per process); a single process gets ``Ranks()``."""
    global _STARTED_HERE
    if not launched_by_torchrun():
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        if cuda:
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
        # One group serves both kinds of tensor, so the backend need not be known before the config is.
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo")
        _STARTED_HERE = True
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


def teardown() -> None:
    """Leave the process group if :func:`setup` started it."""
    global _STARTED_HERE
    if _STARTED_HERE and dist.is_initialized():
        dist.destroy_process_group()
    _STARTED_HERE = False


class SharedRunDirectory(Callback):
    """Hydra callback: under torchrun every rank runs in rank 0's run directory, and only rank 0 writes there.

    Without it, each rank resolves ``hydra.run.dir`` on its own (``${now:...}`` may differ by a
    second) and leaves a directory of its own. Outside torchrun it does nothing.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not launched_by_torchrun():
            return
        ranks = setup()
        with read_write(config), open_dict(config):
            directory = ranks.broadcast(str(config.hydra.run.dir) if ranks.is_main else None)
            config.hydra.run.dir = directory
            if not ranks.is_main:
                # Rank 0 writes .hydra/ and the log file; the others print warnings and errors only.
                config.hydra.output_subdir = None
                _quieten_logging(config.hydra.job_logging)


def _quieten_logging(logging_config: DictConfig | None) -> None:
    """Drop the file handlers of a logging config and raise its root level to warnings."""
    if logging_config is None or logging_config.get("handlers") is None:
        return
    file_handlers = [name for name, handler in logging_config.handlers.items() if "filename" in (handler or {})]
    for name in file_handlers:
        del logging_config.handlers[name]
    root = logging_config.get("root")
    if root is not None:
        root.level = "WARNING"
        if root.get("handlers") is not None:
            root.handlers = [name for name in root.handlers if name not in file_handlers]
