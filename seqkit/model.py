"""SequenceModel: input encoder (embedding or linear) + recurrent stack + head.

The model is assembled from a dataset's spec, a cell factory and a head; it knows nothing about which
concrete cell or head it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqkit.components import DataSpec, Head
from seqkit.recurrent import CellFactory, RecurrentStack, StackState


@dataclass
class ModelConfig:
    """Shape of the model around the cell (the cell's own options live in ``cell.*``)."""

    num_layers: int = 1
    dropout: float = 0.0
    #: Width of the token embedding (token inputs) or of a linear input projection (real inputs).
    #: ``None``: embedding as wide as the cell's hidden size; real inputs fed to the cell as they are.
    embedding_size: int | None = None
    #: Wrap the model in ``torch.compile`` (optional speed-up; costs compile time at start).
    compile: bool = False


class SequenceModel(nn.Module):
    """Encodes inputs, runs them through the recurrent stack and hands the hidden sequence to the head."""

    def __init__(
        self,
        spec: DataSpec,
        cell_factory: CellFactory,
        head: Head,
        config: ModelConfig,
        hidden_size: int,
    ):
        super().__init__()
        self.spec = spec
        if spec.input_kind == "tokens":
            width = config.embedding_size or hidden_size
            self.encoder: nn.Module = nn.Embedding(spec.input_size, width)
        elif config.embedding_size:
            width = config.embedding_size
            self.encoder = nn.Linear(spec.input_size, width)
        else:
            width = spec.input_size
            self.encoder = nn.Identity()
        self.recurrent = RecurrentStack(cell_factory, width, config.num_layers, config.dropout)
        self.head = head

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype = torch.float32) -> StackState:
        return self.recurrent.initial_state(batch_size, device, dtype)

    def forward(self, inputs: torch.Tensor, state: StackState | None = None) -> tuple[torch.Tensor, StackState]:
        """Predictions for ``inputs`` and the state after the last step."""
        hidden, state = self.recurrent(self.encoder(inputs), state)
        return self.head(hidden), state
