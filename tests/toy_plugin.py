"""A tiny plugin used by the tests: a cell, a token dataset and a real-valued dataset, all in memory.

It registers through the same hooks as any plugin package, so the tests exercise the public path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from seqkit import hookimpl
from seqkit.components import Batch, Cell, Dataset, DataSpec, State, Vocabulary


@dataclass
class ToyCellConfig:
    hidden_size: int = 8


class ToyCell(Cell):
    """An Elman cell stepping with ``nn.RNNCell``."""

    def __init__(self, config: ToyCellConfig, input_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, config.hidden_size
        self.step = nn.RNNCell(input_size, config.hidden_size)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h = self.step(x, state[0])
        return h, (h,)


@dataclass
class ToyTokensConfig:
    batch_size: int = 4
    seq_length: int = 6
    length: int = 600


class ToyTokens(Dataset):
    """A repeating 'abcd' text cut into contiguous streams: easy to learn, stateful like real text."""

    def __init__(self, config: ToyTokensConfig):
        self.config = config
        self.vocabulary = Vocabulary(list("abcd\n"))
        text = ("abcd" * 3 + "\n") * (config.length // 13 + 1)
        ids = torch.tensor(self.vocabulary.encode(text[: config.length]))
        self.splits = {"train": ids, "val": ids[: config.length // 3], "test": ids[: config.length // 3]}
        self.spec = DataSpec("tokens", len(self.vocabulary), "tokens", len(self.vocabulary), True, True)

    def num_batches(self, split: str) -> int:
        per_stream = (len(self.splits[split]) - 1) // self.config.batch_size
        return per_stream // self.config.seq_length

    def batches(self, split: str, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        ids, size, length = self.splits[split], self.config.batch_size, self.config.seq_length
        per_stream = (len(ids) - 1) // size
        streams = ids[: per_stream * size + 1]
        inputs = streams[:-1].view(size, per_stream)
        targets = streams[1:].view(size, per_stream)
        rank, world = shard
        for index in range(self.num_batches(split)):
            window = slice(index * length, (index + 1) * length)
            yield Batch(inputs[rank::world, window], targets[rank::world, window])


@dataclass
class ToySeriesConfig:
    batch_size: int = 16
    window: int = 5
    length: int = 400
    shuffle: bool = True
    seed: int = 0
    #: Replace the target of this training window with NaN (for fault tests).
    nan_window: int | None = None


class ToySeries(Dataset):
    """Windows of a noisy sine wave predicting the next value."""

    def __init__(self, config: ToySeriesConfig):
        self.config = config
        self.vocabulary = None
        generator = torch.Generator().manual_seed(0)
        t = torch.arange(config.length, dtype=torch.float32)
        series = torch.sin(2 * math.pi * t / 20) + 0.05 * torch.randn(config.length, generator=generator)
        windows = series.unfold(0, config.window + 1, 1)
        self.inputs, self.targets = windows[:, :-1, None], windows[:, -1:].clone()
        if config.nan_window is not None:
            self.targets[config.nan_window] = float("nan")
        n = len(windows)
        self.ranges = {
            "train": range(0, n * 6 // 10),
            "val": range(n * 6 // 10, n * 8 // 10),
            "test": range(n * 8 // 10, n),
        }
        self.spec = DataSpec("real", 1, "real", 1, target_unit="kw", target_unit_scale=2.0)

    def num_batches(self, split: str) -> int:
        return math.ceil(len(self.ranges[split]) / self.config.batch_size)

    def batches(self, split: str, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        order = torch.tensor(list(self.ranges[split]))
        if split == "train" and self.config.shuffle:
            generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
            order = order[torch.randperm(len(order), generator=generator)]
        rank, world = shard
        for start in range(0, len(order), self.config.batch_size):
            chosen = order[start : start + self.config.batch_size][rank::world]
            yield Batch(self.inputs[chosen], self.targets[chosen])

    def artifacts(self) -> dict:
        return {"window": self.config.window}

    def baselines(self, split: str) -> dict:
        rows = list(self.ranges[split])
        last_values = self.inputs[rows, -1]
        return {"persistence": {"mse": float((last_values - self.targets[rows]).pow(2).mean())}}

    def report(self, model, run_dir, device) -> dict:
        return {"baselines": self.baselines("test")}


@hookimpl
def register_cells(register):
    register("toy_rnn", ToyCell, ToyCellConfig)


@hookimpl
def register_datasets(register):
    register("toy_tokens", ToyTokens, ToyTokensConfig)
    register("toy_series", ToySeries, ToySeriesConfig)
