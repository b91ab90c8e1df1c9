"""SequenceModel: input encoder (embedding or linear) + recurrent stack + head (+ the dataset's extension).

The model is assembled from a dataset's spec, a cell factory and a head; it knows nothing about which
concrete cell, head or dataset it holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from seqkit.components import DataSpec, Head, ModelExtension
from seqkit.recurrent import CellFactory, RecurrentStack, StackState


@dataclass
class ModelConfig:
    """Shape of the model around the cell (the cell's own options live in ``cell.*``)."""

    num_layers: int = 1
    #: Dropout between recurrent layers.
    dropout: float = 0.0
    #: Dropout on the encoded inputs (embeddings or projections) before the first layer.
    input_dropout: float = 0.0
    #: Width of the token embedding (token inputs) or of a linear input projection (real inputs).
    #: ``None``: embedding as wide as the cell's hidden size; real inputs fed to the cell as they are.
    embedding_size: int | None = None
    #: Wrap the model in ``torch.compile`` (optional speed-up; costs compile time at start).
    compile: bool = False
    #: Parameter initialisation: ``default`` (each layer's own PyTorch scheme); ``uniform_unit_scaling``
    #: (weights U(+-sqrt(3 / fan_in)), biases 0: TensorFlow 0.x's default, for reproducing old results);
    #: ``glorot_uniform`` (weights U(+-sqrt(6 / (fan_in + fan_out))), biases 0).
    init: str = "default"
    #: Where a dataset's context (``DataSpec.context_size``) enters the model: ``output`` (mixed into the
    #: top layer's hidden state on its way to the head, so each prediction sees it but the recurrent state
    #: does not carry it) or ``input`` (embedded and added to the input's encoding, so the state does).
    context_at: str = "output"


INIT_SCHEMES = ("default", "uniform_unit_scaling", "glorot_uniform")
CONTEXT_PLACES = ("input", "output")


def initialize(module: nn.Module, scheme: str) -> None:
    """Re-initialise every matrix and zero every vector parameter of ``module`` by ``scheme``."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"model.init must be one of {', '.join(INIT_SCHEMES)}; got {scheme!r}")
    if scheme == "default":
        return
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() < 2:
                parameter.zero_()
                continue
            fan_out, fan_in = parameter.shape[0], parameter[0].numel()
            if scheme == "uniform_unit_scaling":
                bound = math.sqrt(3.0 / fan_in)
            else:
                bound = math.sqrt(6.0 / (fan_in + fan_out))
            parameter.uniform_(-bound, bound)


class ContextMix(nn.Module):
    """Mixes a context class into hidden states: ``h + tanh(W h + E[c])``.

    Between the recurrent stack and the head, so a prediction can depend on the pair (state, context)
    while the recurrent state itself never carries the context.
    """

    def __init__(self, classes: int, hidden_size: int):
        super().__init__()
        self.mix = nn.Linear(hidden_size, hidden_size)
        self.embedding = nn.Embedding(classes, hidden_size)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return hidden + torch.tanh(self.mix(hidden) + self.embedding(context))


class SequenceModel(nn.Module):
    """Encodes inputs, runs them through the recurrent stack and hands the hidden sequence to the head.

    The stack is built first and everything after it is sized from it: the head (``head_factory(width)``)
    and the context mix get the top layer's ``hidden_size``, whatever the cells' configs said.
    ``embedding_size`` is the width of a token embedding when ``model.embedding_size`` is unset (the
    cell's configured hidden size, as is usual for language models).
    """

    def __init__(
        self,
        spec: DataSpec,
        cell_factory: CellFactory,
        head_factory: Callable[[int], Head],
        config: ModelConfig,
        embedding_size: int,
        extension_factory: Callable[[], ModelExtension | None] | None = None,
    ):
        super().__init__()
        self.spec = spec
        if spec.input_kind == "tokens":
            width = config.embedding_size or embedding_size
            self.encoder: nn.Module = nn.Embedding(spec.input_size, width)
        elif config.embedding_size:
            width = config.embedding_size
            self.encoder = nn.Linear(spec.input_size, width)
        else:
            width = spec.input_size
            self.encoder = nn.Identity()
        if config.context_at not in CONTEXT_PLACES:
            raise ValueError(f"model.context_at must be one of {', '.join(CONTEXT_PLACES)}; got {config.context_at!r}")
        if not 0.0 <= config.input_dropout < 1.0:
            raise ValueError(f"model.input_dropout must be in [0, 1), got {config.input_dropout}")
        recurrent = RecurrentStack(cell_factory, width, config.num_layers, config.dropout)
        has_context = bool(spec.context_size)
        self.context_encoder = (
            nn.Embedding(spec.context_size, width) if has_context and config.context_at == "input" else None
        )
        self.context_mix = (
            ContextMix(spec.context_size, recurrent.hidden_size)
            if has_context and config.context_at == "output"
            else None
        )
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.recurrent = recurrent
        self.head = head_factory(recurrent.hidden_size)
        #: The dataset's addition to the predictions (``None``: it adds nothing).
        self.extension = extension_factory() if extension_factory is not None else None
        initialize(self, config.init)

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype = torch.float32) -> StackState:
        return self.recurrent.initial_state(batch_size, device, dtype)

    def forward(
        self, inputs: torch.Tensor, state: StackState | None = None, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, StackState]:
        """Predictions for ``inputs`` (with the dataset's ``context`` classes, if it has one) and the last state."""
        encoded = self.encoder(inputs)
        if self.spec.context_size and context is None:
            raise ValueError(
                f"this model reads {self.spec.context_size} context classes beside its inputs, and none were given"
            )
        if self.context_encoder is not None:
            encoded = encoded + self.context_encoder(context)
        hidden, state = self.recurrent(self.input_dropout(encoded), state)
        if self.context_mix is not None:
            hidden = self.context_mix(hidden, context)
        predictions = self.head(hidden)
        if self.extension is not None:
            predictions = predictions + self.extension(inputs)
        return predictions, state
