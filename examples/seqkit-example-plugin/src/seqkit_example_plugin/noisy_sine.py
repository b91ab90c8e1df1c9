"""Noisy sine waves: windows of past values predicting the next one, generated from a seed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from seqkit.components import Batch, Dataset, DataSpec


@dataclass
class NoisySineConfig:
    waves: int = 64
    length: int = 200
    window: int = 16
    noise: float = 0.05
    batch_size: int = 32
    seed: int = 0


class NoisySine(Dataset):
    """``waves`` sine waves of random period and phase; waves are split 70/15/15 between train, val and test."""

    def __init__(self, config: NoisySineConfig):
        if config.length <= config.window:
            raise ValueError(f"dataset.length ({config.length}) must exceed dataset.window ({config.window})")
        self.config = config
        self.vocabulary = None
        self.spec = DataSpec("real", 1, "real", 1)
        generator = torch.Generator().manual_seed(config.seed)
        periods = 10 + 30 * torch.rand(config.waves, 1, generator=generator)
        phases = 2 * math.pi * torch.rand(config.waves, 1, generator=generator)
        steps = torch.arange(config.length, dtype=torch.float32)
        waves = torch.sin(2 * math.pi * steps / periods + phases)
        waves += config.noise * torch.randn(waves.shape, generator=generator)
        windows = waves.unfold(1, config.window + 1, 1)  # (waves, positions, window + 1)
        train_end, val_end = int(config.waves * 0.7), int(config.waves * 0.85)
        self.windows = {
            "train": windows[:train_end].reshape(-1, config.window + 1),
            "val": windows[train_end:val_end].reshape(-1, config.window + 1),
            "test": windows[val_end:].reshape(-1, config.window + 1),
        }

    def num_batches(self, split: str) -> int:
        return math.ceil(len(self.windows[split]) / self.config.batch_size)

    def batches(self, split: str, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        windows = self.windows[split]
        order = torch.arange(len(windows))
        if split == "train":  # reshuffled every epoch, the same way for the same epoch
            generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
            order = torch.randperm(len(windows), generator=generator)
        rank, world = shard
        for start in range(0, len(order), self.config.batch_size):
            chosen = windows[order[start : start + self.config.batch_size][rank::world]]
            yield Batch(chosen[:, :-1, None], chosen[:, -1:])

    def artifacts(self) -> dict:
        return {"window": self.config.window}
