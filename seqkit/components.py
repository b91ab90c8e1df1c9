"""The contracts between the host and its plugins, and the small value types they exchange.

A plugin registers *factories*: callables that take the component's config dataclass (plus what the
host knows at build time) and return an object honouring one of the contracts below. The host only
ever talks to components through these contracts, so a third-party cell or dataset plugs in exactly
like a built-in one.

Shapes are batch-first throughout: inputs ``(batch, time)`` for tokens or ``(batch, time, features)``
for real values; hidden sequences ``(batch, time, hidden)``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["tokens", "real"]
Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
#: A token target with this value is padding: it adds nothing to the loss or to any metric. It is
#: ``F.cross_entropy``'s default ``ignore_index``, so a head built on it ignores padding for free.
PADDING_TARGET = -100

#: A cell's recurrent state: ``(h,)`` for rnn/gru, ``(h, c)`` for LSTMs, each ``(batch, hidden)``.
State = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class DataSpec:
    """What a dataset holds, so the host can build a model that fits it.

    ``input_size`` is the vocabulary size for token inputs and the number of features for real ones;
    ``target_size`` likewise. ``stateful`` says consecutive batches continue the same streams, so the
    hidden state is carried (and detached) from one batch to the next within an epoch.
    ``sequence_targets`` says there is a target at every time step (language modelling) rather than
    one per sequence (forecasting from a window). ``target_unit``/``target_unit_scale`` let a
    real-valued dataset report errors in the original unit: ``error_in_unit = error * scale``.
    """

    input_kind: Kind
    input_size: int
    target_kind: Kind
    target_size: int
    stateful: bool = False
    sequence_targets: bool = False
    target_unit: str | None = None
    target_unit_scale: float | None = None
    #: Classes of a context the dataset gives beside each token input (0: none). The context at a step
    #: must be a function of the inputs up to that step (the sample format's ``context_tracker``
    #: computes it again while sampling), so the model still predicts the next token from the past alone.
    context_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_kind": self.input_kind,
            "input_size": self.input_size,
            "target_kind": self.target_kind,
            "target_size": self.target_size,
            "stateful": self.stateful,
            "sequence_targets": self.sequence_targets,
            "target_unit": self.target_unit,
            "target_unit_scale": self.target_unit_scale,
            "context_size": self.context_size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        return cls(**data)


@dataclass
class Batch:
    """One batch: ``inputs`` and ``targets`` as the dataset's spec describes them.

    Token inputs are ``long`` ``(batch, time)``; real inputs ``float`` ``(batch, time, features)``.
    Targets are ``(batch, time)`` token ids when ``sequence_targets``, else ``(batch, target_size)``
    real values (or ``(batch,)`` token ids). Token targets equal to ``PADDING_TARGET`` are padding
    (streams of unequal length in one batch) and count for nothing. ``context`` holds the spec's
    context classes, ``long`` ``(batch, time)`` like token inputs, when the spec has a ``context_size``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    context: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        context = None if self.context is None else self.context.to(device, non_blocking=True)
        return Batch(self.inputs.to(device, non_blocking=True), self.targets.to(device, non_blocking=True), context)

    def __len__(self) -> int:
        return self.inputs.shape[0]


@dataclass
class Vocabulary:
    """Symbols of a token dataset; index 0 is the unknown symbol that out-of-vocabulary text maps to."""

    symbols: list[str]
    unknown: str = "\ufffd"
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.symbols or self.symbols[0] != self.unknown:
            self.symbols = [self.unknown, *[s for s in self.symbols if s != self.unknown]]
        self._index = {symbol: i for i, symbol in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def encode(self, text: Sequence[str]) -> list[int]:
        return [self._index.get(symbol, 0) for symbol in text]

    def count_unknown(self, text: Sequence[str]) -> int:
        return sum(1 for symbol in text if symbol not in self._index)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.symbols[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "unknown": self.unknown}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        return cls(list(data["symbols"]), data.get("unknown", "\ufffd"))


class Dataset(metaclass=ABCMeta):
    """A data source built from its config by the registered factory ``factory(config)``.

    ``batches`` must be deterministic for a given ``epoch`` (derive any shuffling from the config's
    seed and the epoch, never from global random state): exact resume replays an epoch and skips the
    batches already seen. ``shard=(rank, world_size)`` gives one process its share for distributed
    training.

    Subclasses set ``spec`` (and ``vocabulary`` for token data) and implement ``batches`` and
    ``num_batches``; the other methods are optional, each with a default (``use_artifacts`` and
    ``forecast`` refuse what they cannot do).
    """

    spec: DataSpec
    vocabulary: Vocabulary | None = None

    @abstractmethod
    def batches(self, split: Split, epoch: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        """The batches of ``split`` for ``epoch``, this process's share of them under ``shard``."""

    @abstractmethod
    def num_batches(self, split: Split) -> int:
        """How many batches ``batches(split)`` yields in one process."""

    def artifacts(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) the model needs later without the data: stored in checkpoints.

        By default the vocabulary (``{"vocabulary": ...}``), which ``seqkit sample`` needs; a dataset
        with a scaler or other fitted transforms adds them.
        """
        return {"vocabulary": self.vocabulary.to_dict()} if self.vocabulary is not None else {}

    def data_files(self) -> list[Path]:
        """The files the dataset read, so ``summary.json`` can record each one's path and sha256. Default: none."""
        return []

    def baselines(self, split: Split) -> dict[str, dict[str, float]]:
        """Reference forecasts' metrics on ``split`` (``{"persistence": {"mse": ...}}``), which the head's
        ``derived_metrics`` compares with when a finished run is evaluated again. Default: none."""
        return {}

    def report(self, model: nn.Module, run_dir: Path, device: torch.device) -> dict[str, Any]:
        """After testing: write the dataset's own artifacts (plots, forecasts) into ``run_dir`` and return
        what ``summary.json`` adds at its top level, e.g. ``{"baselines": {"persistence": {"mse": ...}}}``.

        Baselines reported here are what the head's :meth:`Head.derived_metrics` compares with.
        """
        return {}

    def use_artifacts(self, artifacts: dict[str, Any]) -> None:
        """Take a finished run's fitted transforms (the scaler of real-valued data; a vocabulary) from its
        ``artifacts`` in place of those fitted on this data, so batches read new data as the run's model was
        trained to. Settings the model cannot read otherwise (the window) must match, or this raises.

        By default a dataset cannot: it does nothing when ``artifacts`` equal its own :meth:`artifacts`
        and raises ``ValueError`` naming the keys that differ otherwise.
        """
        own = self.artifacts()
        differ = sorted(key for key in set(own) | set(artifacts) if not _equal(own.get(key), artifacts.get(key)))
        if differ:
            raise ValueError(
                f"dataset {type(self).__name__} cannot take a finished run's transforms ({', '.join(differ)}); "
                "it reads new data only as it was fitted"
            )

    def forecast(
        self, model: nn.Module, device: torch.device, split: Split | None = "test", last: bool = False
    ) -> pd.DataFrame:
        """The model's forecasts as a table, one row per window of ``split`` (``None``: every window the data
        holds, whatever its split), in time order and in the data's own unit, beside the truth and whatever
        reference forecasts the dataset has. ``last``: only the forecast past the data's end, from its last
        window (no truth). ``model`` is a trained model in eval mode on ``device``.

        By default a dataset offers none: this raises ``ValueError``.
        """
        raise ValueError(f"dataset {type(self).__name__} offers no forecasts: it does not implement Dataset.forecast")


def _equal(first: Any, second: Any) -> bool:
    """Whether two artifacts (plain data, perhaps tensors) are equal."""
    try:
        return bool(first == second)
    except Exception:  # noqa: BLE001 - tensors of several elements have no single truth value
        return isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and torch.equal(first, second)


class Cell(nn.Module, metaclass=ABCMeta):
    """One recurrent step ``(x_t, state) -> (h_t, state)`` built by ``factory(config, input_size)``.

    Subclasses set ``input_size``/``hidden_size`` and implement ``forward`` (and ``initial_state`` when
    the state is not a single ``h``). The recurrent runner hands a cell whole sequences through
    ``forward_sequence``, which steps ``forward`` through time; a cell may override it with a fused
    kernel or a hand-written backward, and must then give the same numbers as stepping.
    """

    input_size: int
    hidden_size: int

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> State:
        """The zero state, one ``(batch, hidden)`` tensor per state component."""
        return (torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype),)

    @abstractmethod
    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance one step: ``x`` is ``(batch, input)``; returns ``h_t`` and the new state."""

    def forward_sequence(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Run over ``inputs`` ``(batch, time, input)``: the outputs ``(batch, time, hidden)`` and the last state.

        By default one ``forward`` step at a time.
        """
        outputs = []
        for t in range(inputs.shape[1]):
            h, state = self(inputs[:, t], state)
            outputs.append(h)
        return torch.stack(outputs, dim=1), state


class Head(nn.Module, metaclass=ABCMeta):
    """From hidden states to predictions, with its loss and metrics; ``factory(config, hidden_size, spec)``.

    ``forward`` receives the top layer's hidden sequence ``(batch, time, hidden)``; a head whose
    spec has no ``sequence_targets`` predicts from the last step. ``metric_sums`` returns additive
    statistics of one batch (including ``"count"``), so they can be summed over batches and processes;
    ``metrics`` turns the summed statistics into the reported metrics (lower-case names).
    ``main_metric`` names the metric used for early stopping and model selection (lower is better).
    """

    main_metric: str = "loss"

    @abstractmethod
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Predictions from the top layer's hidden sequence ``(batch, time, hidden)``."""

    @abstractmethod
    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The scalar training loss of one batch."""

    @abstractmethod
    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Additive statistics of one batch, including ``count``."""

    @abstractmethod
    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Reported metrics from statistics summed over batches."""

    def derived_metrics(self, metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, float]:
        """Test metrics derived from ``metrics`` and the dataset's ``baselines`` (its report's ``baselines``,
        scored on the same data), e.g. skill scores; added to the test metrics. By default none."""
        return {}


class ContextTracker(Protocol):
    """Computes a dataset's context class from text fed one symbol at a time, as its batches hold it."""

    #: Number of classes (the dataset's ``DataSpec.context_size``).
    size: int

    def feed(self, symbol: str) -> int:
        """The context class once ``symbol`` has been read."""
        ...


class PieceCounter(Protocol):
    """Counts the complete pieces (tunes, documents) in text fed one symbol at a time."""

    #: Complete pieces so far.
    complete: int
    #: Where the text should end once enough pieces are complete (after the last complete one).
    cut: int | None

    def feed(self, symbol: str) -> None: ...


@dataclass
class SampleFormat:
    """How generated text is primed, stored, cut into pieces and judged: the data's format, without the data.

    A dataset plugin registers one beside its dataset (``register(..., sample_format=...)``); the
    sampler primes each stream with ``prime`` unless told otherwise, names its file with ``suffix``
    (``samples.abc``), stops a stream after N pieces with ``piece_counter`` and adds ``report`` to
    ``summary.json``. Everything works from the text alone: sampling happens without the data.
    """

    suffix: str = ".txt"
    #: The text a generated stream starts from when the sampler is given none ("": it must be given one).
    prime: str = ""

    def report(self, text: str) -> dict[str, Any]:
        return {"characters": len(text)}

    def context_tracker(self) -> ContextTracker | None:
        """A fresh tracker of the data's context (``DataSpec.context_size``) for one generated stream.

        Needed only by models trained with a context; ``None``: this format has none.
        """
        return None

    def piece_counter(self) -> PieceCounter | None:
        """A fresh counter of complete pieces for one generated stream; ``None``: the format has no pieces."""
        return None

    def export(self, text: str, out_dir: Path, stem: str) -> dict[str, Any]:
        """Write companion files of the samples into ``out_dir`` (e.g. one MIDI file per tune).

        Returns what ``summary.json`` records about them under ``samples``; by default nothing.
        """
        return {}


class ModelExtension(nn.Module, metaclass=ABCMeta):
    """A dataset's addition to the model's predictions, computed from the raw inputs.

    Built by the ``model_extension(config, spec)`` a dataset plugin registers; the model returns
    ``head(hidden) + extension(inputs)``, so the recurrent part learns what the extension misses (e.g.
    a linear skip from the last inputs, as in LSTNet). Its weights are the model's, saved and loaded
    with it.
    """

    @abstractmethod
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """What to add to the predictions for ``inputs`` (shaped like the predictions)."""

    def fit(self, batches: Iterable[Batch]) -> None:
        """Initialise from the training batches before a fresh run trains (not on resume); by default nothing."""


@runtime_checkable
class Sampler(Protocol):
    """Generates from a trained model; built by ``factory(config)``.

    ``sample`` writes its artifacts into ``out_dir`` and returns what ``summary.json`` should hold
    under ``samples`` (at least ``path``).
    """

    def sample(
        self,
        model: nn.Module,
        vocabulary: Vocabulary,
        out_dir: Path,
        sample_format: SampleFormat,
        device: torch.device,
    ) -> dict[str, Any]: ...
