"""Text generation from a trained token model: priming, temperature, top-k/top-p, greedy, stop conditions.

The ``text`` sampler primes the model with ``prime`` (by default the data format's own priming text)
and then draws one symbol at a time, feeding each back with the carried state, for up to ``length``
symbols or until ``pieces`` complete pieces are drawn (what a piece is, a tune or a document, the
data's format says through its piece counter). It uses its own seeded ``torch.Generator``, so sampling
never moves the global random state that training depends on. The unknown symbol (index 0) is never
drawn. A model trained with a context beside its symbols (``DataSpec.context_size``) gets it from the
sample format's tracker, which reads each stream as it is drawn.

Writes ``<file_name><suffix>`` and returns what ``summary.json`` records under ``samples``: the file,
its length, and the data's own report on the text. With ``export`` (the default) the data's format
also writes companion files and says what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqkit import hookimpl
from seqkit.components import ContextTracker, PieceCounter, SampleFormat, Vocabulary
from seqkit.hookspecs import RegisterComponent


@dataclass
class TextSamplerConfig:
    """How to draw text from a model."""

    #: The text each stream starts from (``None``: the data format's own priming text).
    prime: str | None = None
    #: Symbols to draw at most (after the priming text).
    length: int = 1000
    #: Stop a stream once it holds this many complete pieces, as the data's format counts them (tunes for
    #: ABC); ``None``: only ``length`` stops it.
    pieces: int | None = None
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    #: Always take the most likely character (temperature, top-k and top-p then make no difference).
    greedy: bool = False
    seed: int = 0
    #: Independent streams drawn side by side; written one after the other, separated by a blank line.
    num_samples: int = 1
    file_name: str = "samples"
    #: Also write the data's companion files beside the samples (MIDI for ABC, with ``seqkit[music]``).
    export: bool = True


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """``logits`` with everything outside the ``k`` largest of each row set to ``-inf``."""
    if k >= logits.shape[-1]:
        return logits
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """``logits`` keeping, per row, the most likely symbols whose probabilities first reach ``p`` in total.

    The most likely symbol is always kept; the rest are set to ``-inf`` (nucleus sampling).
    """
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probabilities, dim=-1) - probabilities  # mass of the more likely symbols
    drop_sorted = before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def context_trackers(model: nn.Module, sample_format: SampleFormat | None, streams: int) -> list[ContextTracker] | None:
    """One context tracker per stream for a model trained with a context; ``None`` for one without."""
    spec = getattr(getattr(model, "module", model), "spec", None)  # a wrapped model (averaged, DDP) has .module
    size = getattr(spec, "context_size", 0)
    if not size:
        return None
    trackers = [sample_format.context_tracker() if sample_format is not None else None for _ in range(streams)]
    if trackers[0] is None:
        raise ValueError(
            f"the model reads {size} context classes beside each character, but its data's sample format "
            "has no context tracker to compute them from the text it draws"
        )
    if trackers[0].size != size:
        raise ValueError(
            f"the model was trained with {size} context classes, but the sample format's tracker has "
            f"{trackers[0].size}: sample with the seqkit version that trained it"
        )
    return trackers


def priming_text(config: TextSamplerConfig, sample_format: SampleFormat, vocabulary: Vocabulary) -> str:
    """``sampler.prime``, or the format's own priming text; every symbol of it must be in the vocabulary."""
    prime = config.prime if config.prime is not None else sample_format.prime
    if not prime:
        raise ValueError(
            f"sampler.prime is not set and {sample_format.suffix} text has no priming text of its own; "
            "set sampler.prime to a few symbols of the training data"
        )
    unknown = sorted({c for c in prime if c not in vocabulary})
    if unknown:
        raise ValueError(
            f"sampler.prime holds characters the model's vocabulary lacks: {''.join(unknown)!r}; "
            "prime with characters of the training data"
        )
    return prime


def piece_counters(config: TextSamplerConfig, sample_format: SampleFormat) -> list[PieceCounter]:
    """One piece counter per stream when ``sampler.pieces`` is set; none otherwise."""
    if config.pieces is None:
        return []
    counters = [sample_format.piece_counter() for _ in range(config.num_samples)]
    if counters[0] is None:
        raise ValueError(
            f"sampler.pieces needs a data format that counts pieces, and {sample_format.suffix} text has none; "
            "stop streams with sampler.length instead"
        )
    return counters


class TextSampler:
    """Draws text from a token model: primed, temperature/top-k/top-p or greedy, seeded, stops at N pieces."""

    def __init__(self, config: TextSamplerConfig):
        if not config.temperature > 0:
            raise ValueError(f"sampler.temperature must be > 0, got {config.temperature}; use sampler.greedy=true")
        if config.top_k is not None and config.top_k < 1:
            raise ValueError(f"sampler.top_k must be at least 1 (or null), got {config.top_k}")
        if config.top_p is not None and not 0 < config.top_p <= 1:
            raise ValueError(f"sampler.top_p must be in (0, 1] (or null), got {config.top_p}")
        if config.length < 0:
            raise ValueError(f"sampler.length must be >= 0, got {config.length}")
        if config.pieces is not None and config.pieces < 1:
            raise ValueError(f"sampler.pieces must be at least 1 (or null), got {config.pieces}")
        if config.num_samples < 1:
            raise ValueError(f"sampler.num_samples must be at least 1, got {config.num_samples}")
        if config.prime == "":
            raise ValueError("sampler.prime must not be empty: the model needs at least one symbol to start")
        self.config = config

    def choose(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The next symbol of each stream from its ``(streams, vocabulary)`` logits."""
        logits = logits.float().clone()
        logits[:, 0] = float("-inf")  # never emit the unknown symbol
        if self.config.greedy:
            return logits.argmax(dim=-1)
        logits = logits / self.config.temperature
        if self.config.top_k is not None:
            logits = top_k_filter(logits, self.config.top_k)
        if self.config.top_p is not None:
            logits = top_p_filter(logits, self.config.top_p)
        probabilities = torch.softmax(logits, dim=-1)
        return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)

    def generate(
        self,
        model: nn.Module,
        vocabulary: Vocabulary,
        device: torch.device,
        sample_format: SampleFormat | None = None,
    ) -> list[str]:
        """One text per stream: the priming text followed by what the model drew.

        A model trained with a context (``spec.context_size``) gets it from ``sample_format``'s
        tracker, one per stream, fed every character as the dataset's batches would have it.
        """
        config = self.config
        sample_format = sample_format or SampleFormat()
        prime = priming_text(config, sample_format, vocabulary)
        trackers = context_trackers(model, sample_format, config.num_samples)
        generator = torch.Generator().manual_seed(config.seed)
        texts = [prime] * config.num_samples
        counters = piece_counters(config, sample_format)
        for counter in counters:
            for character in prime:
                counter.feed(character)
        active = [counter.complete < config.pieces for counter in counters] if counters else [True] * len(texts)
        if not any(active):  # the priming text alone already holds the pieces asked for
            return [prime[: counter.cut] for counter in counters]
        inputs = torch.tensor([vocabulary.encode(prime)] * config.num_samples, device=device)
        extra: tuple[torch.Tensor, ...] = ()  # the context, for a model that reads one
        if trackers is not None:
            extra = (torch.tensor([[t.feed(c) for c in prime] for t in trackers], device=device),)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                logits, state = model(inputs, None, *extra)
                last_context = extra[0][:, -1].tolist() if extra else []
                for _ in range(config.length):
                    if not any(active):
                        break
                    chosen = self.choose(logits[:, -1].cpu(), generator)
                    for stream, symbol in enumerate(chosen.tolist()):
                        if not active[stream]:
                            continue
                        character = vocabulary.symbols[symbol]
                        if trackers is not None:
                            last_context[stream] = trackers[stream].feed(character)
                        texts[stream] += character
                        if counters:
                            counters[stream].feed(character)
                            if counters[stream].complete >= config.pieces:
                                active[stream] = False
                                texts[stream] = texts[stream][: counters[stream].cut]
                    if trackers is not None:
                        extra = (torch.tensor(last_context, device=device).unsqueeze(1),)
                    logits, state = model(chosen.to(device).unsqueeze(1), state, *extra)
        finally:
            model.train(was_training)
        return texts

    def sample(
        self,
        model: nn.Module,
        vocabulary: Vocabulary,
        out_dir: Path,
        sample_format: SampleFormat,
        device: torch.device,
    ) -> dict[str, Any]:
        """Draw the streams, write them to ``out_dir/<file_name><suffix>`` and report on them."""
        texts = self.generate(model, vocabulary, torch.device(device), sample_format)
        # Each stream ends with a newline and a blank line separates streams, so no piece runs into the next.
        text = "\n".join(t if t.endswith("\n") else t + "\n" for t in texts)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.config.file_name}{sample_format.suffix}"
        path.write_text(text, encoding="utf-8")
        report = {"path": path.name, "characters": len(text), **sample_format.report(text)}
        if self.config.export:
            report.update(sample_format.export(text, out_dir, self.config.file_name))
        return report


@hookimpl
def register_samplers(register: RegisterComponent) -> None:
    register("text", TextSampler, TextSamplerConfig)
