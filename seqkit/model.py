"""SequenceModel: input encoder (embedding or linear) + recurrent stack + head.

The model is assembled from a dataset's spec, a cell factory and a head; it knows nothing about which
concrete cell or head it holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from seqkit.components import Batch, DataSpec, Head
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
    #: Add a linear map of the last N input steps to the head's output (an autoregressive "highway", as in
    #: LSTNet): the recurrent part then learns what a linear forecast misses. 0: off. Real inputs only.
    linear_skip: int = 0
    #: Parameter initialisation: ``default`` (each layer's own PyTorch scheme); ``uniform_unit_scaling``
    #: (weights U(+-sqrt(3 / fan_in)), biases 0: TensorFlow 0.x's default, for reproducing old results);
    #: ``glorot_uniform`` (weights U(+-sqrt(6 / (fan_in + fan_out))), biases 0).
    init: str = "default"
    #: How the linear skip starts: ``random``, or ``least_squares``: fitted in closed form on the training
    #: data before training, so the network starts from the linear forecast and learns what it misses.
    linear_skip_init: str = "random"
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

    Between the recurrent stack and the head, so a prediction can depend on the pair (state, context),
    e.g. "a note was just written and two units of the bar are left", while the recurrent state itself
    never carries the context. On the Goldberg data this generalises better than adding the context to
    the inputs, which lets the state tie what it remembers to positions in the bar (README, Bach results).
    """

    def __init__(self, classes: int, hidden_size: int):
        super().__init__()
        self.mix = nn.Linear(hidden_size, hidden_size)
        self.embedding = nn.Embedding(classes, hidden_size)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return hidden + torch.tanh(self.mix(hidden) + self.embedding(context))


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
        if config.context_at not in CONTEXT_PLACES:
            raise ValueError(f"model.context_at must be one of {', '.join(CONTEXT_PLACES)}; got {config.context_at!r}")
        has_context = bool(spec.context_size)
        self.context_encoder = (
            nn.Embedding(spec.context_size, width) if has_context and config.context_at == "input" else None
        )
        self.context_mix = (
            ContextMix(spec.context_size, hidden_size) if has_context and config.context_at == "output" else None
        )
        if not 0.0 <= config.input_dropout < 1.0:
            raise ValueError(f"model.input_dropout must be in [0, 1), got {config.input_dropout}")
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.recurrent = RecurrentStack(cell_factory, width, config.num_layers, config.dropout)
        self.head = head
        self.skip_steps = config.linear_skip
        self.skip: nn.Linear | None = None
        if self.skip_steps:
            if spec.input_kind != "real" or spec.target_kind != "real" or spec.sequence_targets:
                raise ValueError("model.linear_skip needs real-valued inputs and one real-valued target per sequence")
            self.skip = nn.Linear(self.skip_steps * spec.input_size, spec.target_size)
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
        if self.skip is not None:
            if inputs.shape[1] < self.skip_steps:
                raise ValueError(f"model.linear_skip={self.skip_steps} exceeds the {inputs.shape[1]} input steps")
            predictions = predictions + self.skip(inputs[:, -self.skip_steps :].flatten(1))
        return predictions, state


@torch.no_grad()
def fit_linear_skip(model: SequenceModel, batches: Iterable[Batch], ridge: float = 1e-6) -> None:
    """Set the model's linear skip to the (ridge) least-squares fit of the targets on the last input steps.

    One pass over ``batches`` accumulates the normal equations in float64, so memory stays at
    ``(steps * features + 1) ** 2`` numbers whatever the data's size.
    """
    if model.skip is None:
        raise ValueError("model.linear_skip_init=least_squares needs model.linear_skip > 0")
    gram = moments = None
    count = 0
    for batch in batches:
        inputs = batch.inputs[:, -model.skip_steps :].flatten(1).double()
        inputs = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)
        targets = batch.targets.reshape(len(inputs), -1).double()
        gram = inputs.T @ inputs if gram is None else gram + inputs.T @ inputs
        moments = inputs.T @ targets if moments is None else moments + inputs.T @ targets
        count += len(inputs)
    if gram is None:
        raise ValueError("the train split yields no batches to fit the linear skip on")
    # A ridge in proportion to the data keeps one-hot or constant columns from making the system singular.
    solution = torch.linalg.solve(gram + ridge * count * torch.eye(len(gram), dtype=gram.dtype), moments)
    device = model.skip.weight.device
    model.skip.weight.copy_(solution[:-1].T.to(device))
    model.skip.bias.copy_(solution[-1].to(device))
