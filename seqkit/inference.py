"""A finished run as an object: its model rebuilt from a checkpoint, to evaluate, score, sample or forecast with.

    import seqkit
    run = seqkit.load_run("outputs/bach/2024-05-01_12-00-00")     # checkpoints/best.pt, no data needed
    run.evaluate()                      # the head's test metrics, as summary.json has them
    run.evaluate(path="other.abc")      # the same model on other data (dataset.path=...)
    run.evaluate("val")                 # another split: by position, since keywords are dataset options
    run.score("X:1\\nT:Aria\\n...")     # bits per character of a text
    run.predict("new.csv")              # a forecasting run's forecasts for every window of new data

The checkpoint carries the config, the data spec, the dataset's artifacts (a vocabulary, a scaler) and the
precision the run computed in, so loading needs the plugins that trained the run but not its data, and
evaluation repeats the run's arithmetic. Nothing here writes into the run directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from seqkit.assemble import as_config, build_dataset, build_model, build_sampler, sample_format_of
from seqkit.checkpoint import CheckpointError, load_checkpoint, preserved_random_states
from seqkit.components import PADDING_TARGET, Batch, Dataset, DataSpec, Vocabulary
from seqkit.distributed import Ranks
from seqkit.errors import error_line
from seqkit.model import SequenceModel
from seqkit.registry import Registry, RegistryError
from seqkit.runtime import Precision, resolve_device, seed_everything
from seqkit.training.evaluate import evaluate as evaluate_split

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("seqkit.inference")

#: What a checkpoint must hold to rebuild its model.
REQUIRED_KEYS = ("config", "spec", "model")
#: The components a model needs installed to be rebuilt (the dataset for its sample format and extension).
NEEDED_KINDS = ("dataset", "cell", "head")
SPLITS = ("train", "val", "test")
#: Symbols run through the model per call while scoring (the state is carried between calls).
SCORE_CHUNK = 4096


def checkpoint_file(path: Path | str, checkpoint: str = "best") -> tuple[Path, Path]:
    """``(run directory, checkpoint file)`` for a run directory and ``best``/``last``/a path, or a ``.pt`` file."""
    path = Path(path)
    if path.suffix == ".pt" and not path.is_dir():  # a checkpoint file given directly
        return (path.parent.parent if path.parent.name == "checkpoints" else path.parent), path
    if checkpoint in ("best", "last"):
        return path, path / "checkpoints" / f"{checkpoint}.pt"
    return path, Path(checkpoint)


def load_run(
    path: Path | str, checkpoint: str = "best", device: str = "auto", *, registry: Registry | None = None
) -> FinishedRun:
    """The run in directory ``path`` (or the ``.pt`` file ``path``), its model rebuilt in eval mode on ``device``.

    ``checkpoint`` is ``best``, ``last`` or a path. ``registry`` defaults to the installed plugins'.
    Raises :class:`CheckpointError` for a missing or foreign checkpoint and :class:`RegistryError` when a
    component the run names is not installed; either leaves the run directory as it was.
    """
    run_dir, file = checkpoint_file(path, checkpoint)
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {file}; a finished run has checkpoints/best.pt")
    if registry is None:
        from seqkit.cli import get_host

        registry = get_host().registry
    try:
        torch_device = resolve_device(device)
    except ValueError as error:  # its message names the trainer's option; here the argument is device=
        raise ValueError(str(error).replace("trainer.device", "device")) from None
    payload = load_checkpoint(file, map_location=torch_device)
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(
            f"{file} lacks {', '.join(missing)}: it was written by another seqkit layout "
            f"(a checkpoint that seqkit can load holds {', '.join(REQUIRED_KEYS)})"
        )
    config = as_config(payload["config"])
    for kind in NEEDED_KINDS:
        name = (config.get(kind) or {}).get("name")
        if name is None:
            raise CheckpointError(f"{file}: its config names no {kind}; it was not written by seqkit's trainer")
        try:
            registry.get(kind, name)
        except RegistryError:
            raise RegistryError(
                f"this run's {kind} {name!r} is provided by no installed plugin; install the plugin that "
                "trained it (seqkit plugins lists what is installed)"
            ) from None
    spec = DataSpec.from_dict(payload["spec"])
    model = build_model(config, registry, spec).to(torch_device)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{file}: its weights do not fit the model its config describes ({error_line(error)})"
        ) from None
    model.eval()
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else None
    artifacts = dict(payload.get("artifacts") or {})
    vocabulary = Vocabulary.from_dict(artifacts["vocabulary"]) if artifacts.get("vocabulary") else None
    precision = run_precision(payload, torch_device)
    return FinishedRun(run_dir, file, config, spec, artifacts, summary, precision, vocabulary, model, registry)


def run_precision(payload: dict[str, Any], device: torch.device) -> Precision:
    """The precision the run computed in (float32 for an old checkpoint), or float32 where ``device`` lacks it."""
    name = str(payload.get("precision", "32"))
    try:
        return Precision(name, device)
    except ValueError as error:
        log.warning("the run computed in precision %s, which %s cannot (%s); using float32", name, device, error)
        return Precision("32", device)


@dataclass
class FinishedRun:
    """A trained model with what its run stored beside it: config, data spec, artifacts, summary, precision."""

    path: Path
    checkpoint: Path
    config: DictConfig
    spec: DataSpec
    artifacts: dict[str, Any]
    summary: dict[str, Any] | None
    precision: Precision
    vocabulary: Vocabulary | None
    model: SequenceModel
    registry: Registry

    @property
    def device(self) -> torch.device:
        return self.precision.device

    def dataset(self, **dataset_overrides: Any) -> Dataset:
        """The run's dataset from its stored config, with ``dataset_overrides`` (``path=...``) merged in.

        Keys are checked by the dataset's config class (``dataset.pathh: Key 'pathh' not in ...``). Real-valued
        data takes the run's fitted transforms (its scaler: ``Dataset.use_artifacts``), never refitted, so the
        model reads other data as it read its own; a dataset that cannot raises ``ValueError``.
        """
        if "name" in dataset_overrides:
            raise ValueError(
                "dataset.name cannot be changed: the model reads the data of the dataset it was trained on"
            )
        values = {
            key: os.fspath(value) if isinstance(value, os.PathLike) else value
            for key, value in dataset_overrides.items()
        }
        config = self.config.copy()
        config.dataset = OmegaConf.merge(config.dataset, values)
        with preserved_random_states():
            seed_everything(int(config.get("seed", 0)))  # as training built it, leaving the caller's streams
            dataset = build_dataset(config, self.registry)
        if self.spec.input_kind == "real":  # a scaler refitted on other data would change what the model reads
            if self.artifacts:
                dataset.use_artifacts(self.artifacts)
            else:
                log.warning("the run's checkpoint holds no artifacts: the data is read with transforms fitted on it")
        return dataset

    def evaluate(self, split: str = "test", /, **dataset_overrides: Any) -> dict[str, float]:
        """The head's metrics on ``split`` of the run's data (or of the data ``dataset_overrides`` describe).

        Computed as the trainer tests, in the run's precision: on the run's own data and the test split
        this repeats ``summary.json``'s ``metrics.test``, with what the head derives from the dataset's
        baselines (``skill_vs_persistence``). Token data whose vocabulary differs from the run's
        (another file) is mapped onto the run's; symbols the run never saw count as its unknown symbol.
        Real-valued data is read with the run's scaler, not one fitted on it (``dataset``).
        """
        return self.evaluate_report(split, **dataset_overrides)["metrics"]

    def evaluate_report(self, split: str = "test", /, **dataset_overrides: Any) -> dict[str, Any]:
        """:meth:`evaluate`'s ``metrics``, and for token data ``unknown_rate``: the share of the scored
        symbols the run's vocabulary does not hold (each read and scored as its unknown symbol).

        ``split`` is given by position; every keyword is a dataset option, ``split`` too (the ABC
        dataset's ``split=random``): ``run.evaluate_report("test", path="tunes/", split="random")``.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
        dataset = self.dataset(**dataset_overrides)
        self._check_spec(dataset.spec)
        if self.vocabulary is not None and dataset.vocabulary is not None:
            if dataset.vocabulary.symbols != self.vocabulary.symbols:
                dataset = RemappedTokens(dataset, self.vocabulary, self.spec)
        metrics = evaluate_split(self.model, dataset, split, self.precision, Ranks())
        metrics.update(self.model.head.derived_metrics(metrics, dataset.baselines(split)))
        report: dict[str, Any] = {"metrics": metrics}
        if self.spec.target_kind == "tokens":
            report["unknown_rate"] = unknown_rate(dataset, split)
        return report

    def _check_spec(self, spec: DataSpec) -> None:
        """Refuse data the model cannot read: another kind, context or (for real values) another width."""
        fields = ["input_kind", "target_kind", "sequence_targets", "context_size"]
        if self.spec.input_kind == "real":
            fields += ["input_size", "target_size"]
        differ = [f for f in fields if getattr(spec, f) != getattr(self.spec, f)]
        if differ:
            found = ", ".join(f"{f} {getattr(spec, f)!r} (the run's: {getattr(self.spec, f)!r})" for f in differ)
            raise ValueError(f"the dataset does not fit this run's model: {found}")

    def score(self, text: str) -> dict[str, float]:
        """How well the model predicts ``text``, read as one stream from its first symbol (state carried).

        The first symbol has no prediction, so ``tokens`` is ``len(text) - 1``. Returns the total ``nats``
        and ``bits``, ``bits_per_token`` (``bpc``, the same for a character vocabulary), ``perplexity``,
        ``tokens``, and ``unknown``/``unknown_rate``: the symbols of ``text`` outside the run's vocabulary,
        read and predicted as its unknown symbol (a warning gives the rate when there are any).
        """
        if self.vocabulary is None or self.spec.target_kind != "tokens":
            raise ValueError("score needs a run trained on tokens; this run forecasts real values (use evaluate)")
        if len(text) < 2:
            raise ValueError("score needs a text of at least two symbols: the first has no prediction")
        unknown = self.vocabulary.count_unknown(text)
        if unknown:
            rate = unknown / len(text)
            log.warning("%d of %d symbols (%.2f%%) are not in the run's vocabulary", unknown, len(text), 100 * rate)
        ids = torch.tensor(self.vocabulary.encode(text), dtype=torch.long, device=self.device)
        context = None
        if self.spec.context_size:
            tracker = sample_format_of(self.config, self.registry).context_tracker()
            if tracker is None or tracker.size != self.spec.context_size:
                raise ValueError(
                    f"the model reads {self.spec.context_size} context classes, which its data's sample format "
                    "cannot compute from text"
                )
            context = torch.tensor([tracker.feed(symbol) for symbol in text[:-1]], device=self.device)
        nats, state = 0.0, None
        with torch.no_grad():
            for start in range(0, len(text) - 1, SCORE_CHUNK):
                window = slice(start, min(start + SCORE_CHUNK, len(text) - 1))
                chunk_context = context[window][None] if context is not None else None
                with self.precision.autocast():
                    logits, state = self.model(ids[window][None], state, chunk_context)
                targets = ids[start + 1 : window.stop + 1]
                nats += float(F.cross_entropy(logits[0].float(), targets, reduction="sum"))
        tokens = len(text) - 1
        bits_per_token = nats / tokens / math.log(2)
        return {
            "nats": nats,
            "bits": nats / math.log(2),
            "bits_per_token": bits_per_token,
            "bpc": bits_per_token,
            "perplexity": math.exp(min(nats / tokens, 700.0)),
            "tokens": tokens,
            "unknown": unknown,
            "unknown_rate": unknown / len(text),
        }

    def sample(self, **sampler_overrides: Any) -> list[str]:
        """Texts drawn with the run's sampler, one per stream (``length=200``, ``temperature=0.8``, ``seed=1``).

        ``name=NAME`` picks another sampler, without the run's sampler options. The sampler must offer
        ``generate`` (the built-in ``text`` sampler does); ``seqkit sample RUN`` writes files instead.
        """
        if self.vocabulary is None:
            raise ValueError("sample needs a run trained on tokens; this run forecasts real values (use evaluate)")
        name = sampler_overrides.pop("name", None)
        config = self.config.copy()
        section = sampler_section(config.get("sampler"), [f"name={name}"] if name else [], self.registry)
        config.sampler = OmegaConf.merge(section, sampler_overrides)
        sampler = build_sampler(config, self.registry)
        if not hasattr(sampler, "generate"):
            raise ValueError(f"sampler {config.sampler.name!r} has no generate(); use seqkit sample RUN to write files")
        with preserved_random_states():
            return sampler.generate(self.model, self.vocabulary, self.device, sample_format_of(config, self.registry))

    def predict(self, source: Any = None, *, last: bool = False, **dataset_overrides: Any) -> pd.DataFrame:
        """The model's forecasts for every window of new data, as the run's dataset tabulates them
        (``Dataset.forecast``; electricity: target time and row, truth, prediction and baselines in kW).

        ``source`` is a file (or give ``path=...``), a pandas Series with a DatetimeIndex (each reading's time
        stamp) or a 1-D array (placed in time as the dataset's config says); those two are written to a
        temporary CSV (``time`` and a value column named as the run's artifacts' ``column``, else ``value``).
        The data is read with the run's fitted transforms, never refitted. ``last``: only the forecast past
        the data's end, from its last window. ``dataset_overrides`` change the dataset's options.
        """
        if self.spec.target_kind != "real":
            raise ValueError(
                "predict needs a run that forecasts real values; this run was trained on tokens (use score or sample)"
            )
        with data_file(source, self.artifacts.get("column")) as path:
            if path is not None:
                if "path" in dataset_overrides:
                    raise ValueError("give the data once: as the source or as path=..., not both")
                dataset_overrides["path"] = path
            dataset = self.dataset(**dataset_overrides)
        self._check_spec(dataset.spec)
        return dataset.forecast(self.model, self.device, split=None, last=last)


@contextlib.contextmanager
def data_file(source: Any, column: Any = None) -> Iterator[str | None]:
    """``source`` as a file to read: a path as it is (``None``: none), a Series or 1-D array as a temporary CSV."""
    if source is None or isinstance(source, (str, os.PathLike)):
        yield None if source is None else os.fspath(source)
        return
    import numpy as np
    import pandas as pd

    name = column if isinstance(column, str) and column != "time" else "value"
    if isinstance(source, pd.Series):
        if not isinstance(source.index, pd.DatetimeIndex):
            raise ValueError(
                "a Series to forecast needs a DatetimeIndex (each reading's time stamp); give its values as an array"
            )
        frame = pd.DataFrame({"time": source.index.strftime("%Y-%m-%d %H:%M:%S"), name: source.to_numpy(float)})
    else:
        values = np.asarray(source, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"an array to forecast must be 1-D, one value per step; got shape {values.shape}")
        frame = pd.DataFrame({name: values})
    with tempfile.TemporaryDirectory(prefix="seqkit-predict-") as folder:
        path = Path(folder) / "series.csv"
        frame.to_csv(path, index=False)
        yield str(path)


def sampler_section(stored: DictConfig | None, overrides: list[str], registry: Registry) -> DictConfig:
    """The sampler config to sample with: the run's own, changed by ``overrides`` (``temperature=0.5``).

    ``name=X`` picks another sampler; the run's options then stay with the run's sampler. A run trained
    without one samples with the only sampler installed, or names the choice to make.
    """
    stored = stored if stored is not None else OmegaConf.create({})
    chosen = OmegaConf.from_dotlist(overrides)
    name = chosen.get("name") or stored.get("name")
    if name is None:
        installed = registry.names("sampler")
        if len(installed) != 1:
            raise ValueError(
                f"the run was trained without a sampler; choose one with name=NAME "
                f"(available: {registry.describe_available('sampler')})"
            )
        name = installed[0]
    kept = stored if stored.get("name") in (None, name) else {}
    return OmegaConf.merge(kept, chosen, {"name": name})


def unknown_rate(dataset: Dataset, split: str) -> float:
    """The share of ``split``'s scored token targets that are the unknown symbol (id 0)."""
    unknown = scored = 0
    for batch in dataset.batches(split):
        targets = batch.targets[batch.targets != PADDING_TARGET]
        unknown += int((targets == 0).sum())
        scored += targets.numel()
    return unknown / scored if scored else 0.0


class RemappedTokens(Dataset):
    """A token dataset whose ids are translated from its own vocabulary to the run's (unknown symbols to 0)."""

    def __init__(self, dataset: Dataset, vocabulary: Vocabulary, spec: DataSpec):
        self.inner, self.vocabulary, self.spec = dataset, vocabulary, spec
        index = {symbol: i for i, symbol in enumerate(vocabulary.symbols)}
        self.table = torch.tensor([index.get(symbol, 0) for symbol in dataset.vocabulary.symbols], dtype=torch.long)
        unseen = [s for s in dataset.vocabulary.symbols[1:] if s not in index]
        if unseen:
            log.warning("the data holds %d symbol(s) the run never saw: %r", len(unseen), "".join(unseen))

    def _map(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.where(ids == PADDING_TARGET, ids, self.table.to(ids.device)[ids.clamp(min=0)])

    def batches(self, split, epoch=0, shard=(0, 1)):
        for batch in self.inner.batches(split, epoch, shard):
            yield Batch(self._map(batch.inputs), self._map(batch.targets), batch.context)

    def num_batches(self, split):
        return self.inner.num_batches(split)
