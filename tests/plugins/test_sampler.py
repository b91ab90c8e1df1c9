"""The ``text`` sampler: determinism, its own random generator, filters, greedy choice, stop conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from seqkit.components import Cell, DataSpec, Head, SampleFormat, State, Vocabulary
from seqkit.model import ModelConfig, SequenceModel
from seqkit.plugins.sampler import (
    TextSampler,
    TextSamplerConfig,
    register_samplers,
    top_k_filter,
    top_p_filter,
)

VOCABULARY = Vocabulary(list("X:1\nab|"))
CPU = torch.device("cpu")


class TinyCell(Cell):
    """A plain tanh RNN step."""

    def __init__(self, input_size: int, hidden_size: int = 8):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.step = nn.RNNCell(input_size, hidden_size)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h = self.step(x, state[0])
        return h, (h,)


class TinyHead(Head):
    """Logits over the vocabulary from the hidden state."""

    def __init__(self, hidden_size: int, vocabulary_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, vocabulary_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(predictions.flatten(0, 1), targets.flatten())

    def metric_sums(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"loss": self.loss(predictions, targets).item() * targets.numel(), "count": targets.numel()}

    def metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"loss": sums["loss"] / sums["count"]}


def tiny_model(seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    size = len(VOCABULARY)
    spec = DataSpec("tokens", size, "tokens", size, stateful=True, sequence_targets=True)
    return SequenceModel(spec, TinyCell, lambda width: TinyHead(width, size), ModelConfig(), embedding_size=8)


class Bigram(nn.Module):
    """Next-symbol logits from the current symbol alone: a model whose choices are easy to predict."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table

    def forward(self, inputs: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        return self.table[inputs], state


def cycle_model(text: str, unknown_logit: float = 0.0) -> Bigram:
    """A bigram model that, greedily, repeats ``text`` forever (each symbol's successor is fixed)."""
    size = len(VOCABULARY)
    table = torch.zeros(size, size)
    ids = VOCABULARY.encode(text + text[0])
    for current, following in zip(ids, ids[1:]):
        table[current, following] = 5.0
    table[:, 0] = unknown_logit
    return Bigram(table)


class LineCounter:
    """A piece counter for which every line is a piece, complete at its newline."""

    def __init__(self) -> None:
        self.complete, self.cut, self.position = 0, None, 0

    def feed(self, symbol: str) -> None:
        self.position += 1
        if symbol == "\n":
            self.complete, self.cut = self.complete + 1, self.position


class Lines(SampleFormat):
    """Text whose pieces are lines."""

    def piece_counter(self) -> LineCounter:
        return LineCounter()


LINES = Lines(prime="X:1\n")


def draw(model: nn.Module, sample_format: SampleFormat = LINES, **options) -> list[str]:
    return TextSampler(TextSamplerConfig(**options)).generate(model, VOCABULARY, CPU, sample_format)


# -- filters -----------------------------------------------------------------------------------------


def test_top_k_keeps_the_k_largest_logits() -> None:
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]])
    assert torch.isfinite(top_k_filter(logits, 2)).tolist() == [[False, True, True, False]]


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.log(torch.tensor([[0.1, 0.5, 0.3, 0.1]]))
    assert torch.isfinite(top_p_filter(logits, 0.7)).tolist() == [[False, True, True, False]]
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[False, True, False, False]]


def test_top_p_always_keeps_the_most_likely_symbol() -> None:
    logits = torch.log(torch.tensor([[0.2, 0.6, 0.2]]))
    assert torch.isfinite(top_p_filter(logits, 0.01)).tolist() == [[False, True, False]]


# -- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(temperature: float) -> None:
    with pytest.raises(ValueError, match="sampler.temperature must be > 0"):
        TextSampler(TextSamplerConfig(temperature=temperature))


@pytest.mark.parametrize("top_p", [0.0, 1.5])
def test_top_p_must_lie_in_the_unit_interval(top_p: float) -> None:
    with pytest.raises(ValueError, match=r"sampler.top_p must be in \(0, 1\]"):
        TextSampler(TextSamplerConfig(top_p=top_p))


def test_a_prime_outside_the_vocabulary_is_an_error() -> None:
    with pytest.raises(ValueError, match="sampler.prime holds characters .*'Q'"):
        draw(tiny_model(), prime="X:Q")


# -- drawing -----------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_text() -> None:
    model = tiny_model()
    assert draw(model, seed=7, length=200) == draw(model, seed=7, length=200)


def test_another_seed_draws_another_text() -> None:
    model = tiny_model()
    assert draw(model, seed=1, length=200) != draw(model, seed=2, length=200)


def test_sampling_leaves_the_global_random_state_alone() -> None:
    model = tiny_model()
    before = torch.get_rng_state()
    draw(model, length=100)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_model_is_run_in_eval_mode_and_handed_back_as_it_was() -> None:
    model = tiny_model()
    modes = []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    model.train()
    draw(model, length=5)
    assert modes and not any(modes)
    assert model.training


def test_length_bounds_the_characters_drawn() -> None:
    (text,) = draw(tiny_model(), prime="X:", length=37)
    assert len(text) == 2 + 37


def test_greedy_takes_the_most_likely_symbol() -> None:
    (text,) = draw(cycle_model("X:ab|\n"), prime="X:", length=10, greedy=True, seed=3)
    assert text == "X:ab|\nX:ab|\n"


def test_the_unknown_symbol_is_never_drawn() -> None:
    model = cycle_model("X:ab|\n", unknown_logit=100.0)
    (greedy,) = draw(model, prime="X:", length=10, greedy=True)
    (sampled,) = draw(model, prime="X:", length=300, top_k=2)
    assert VOCABULARY.unknown not in greedy + sampled
    assert greedy == "X:ab|\nX:ab|\n"


def test_drawing_stops_after_the_asked_number_of_pieces() -> None:
    (text,) = draw(cycle_model("X:ab|\n"), prime="X:", length=1000, greedy=True, pieces=2)
    assert text == "X:ab|\nX:ab|\n"


def test_asking_for_pieces_of_a_format_without_pieces_is_refused() -> None:
    with pytest.raises(ValueError, match="sampler.pieces needs a data format that counts pieces"):
        draw(cycle_model("X:ab|\n"), SampleFormat(prime="X:"), length=10, pieces=2)


def test_streams_start_from_the_formats_priming_text_unless_told_otherwise() -> None:
    (primed_by_format,) = draw(cycle_model("X:ab|\n"), Lines(prime="X:"), length=4, greedy=True)
    (primed_by_config,) = draw(cycle_model("X:ab|\n"), Lines(prime="X:"), prime="ab", length=4, greedy=True)
    assert (primed_by_format, primed_by_config) == ("X:ab|\n", "ab|\nX:")


def test_a_format_without_priming_text_needs_sampler_prime() -> None:
    with pytest.raises(ValueError, match="sampler.prime is not set and .txt text has no priming text"):
        draw(tiny_model(), SampleFormat(), length=5)


def test_streams_are_drawn_independently() -> None:
    texts = draw(tiny_model(), length=100, num_samples=3)
    assert len(set(texts)) == 3
    assert all(text.startswith("X:1\n") for text in texts)


def test_sample_writes_the_file_and_returns_its_report(tmp_path: Path) -> None:
    class Judged(Lines):
        def report(self, text: str) -> dict:
            return {"tunes": text.count("X:")}

    sampler = TextSampler(TextSamplerConfig(prime="X:", length=1000, greedy=True, pieces=3, file_name="drawn"))
    result = sampler.sample(cycle_model("X:ab|\n"), VOCABULARY, tmp_path, Judged(suffix=".abc"), CPU)
    assert (tmp_path / "drawn.abc").read_text(encoding="utf-8") == "X:ab|\n" * 3
    assert result == {"path": "drawn.abc", "characters": 18, "tunes": 3}


class Exporting(SampleFormat):
    """Writes the text again under another name, as a format with companion files would."""

    def export(self, text: str, out_dir: Path, stem: str) -> dict:
        (out_dir / f"{stem}.copy").write_text(text, encoding="utf-8")
        return {"copy": f"{stem}.copy"}


@pytest.mark.parametrize("export", [True, False])
def test_the_format_writes_its_companion_files_unless_told_not_to(tmp_path: Path, export: bool) -> None:
    sampler = TextSampler(TextSamplerConfig(prime="X:", length=6, greedy=True, export=export))
    result = sampler.sample(cycle_model("X:ab|\n"), VOCABULARY, tmp_path, Exporting(), CPU)
    assert ("copy" in result) == export == (tmp_path / "samples.copy").exists()
    if export:
        assert (tmp_path / "samples.copy").read_text(encoding="utf-8") == (tmp_path / "samples.txt").read_text()


def test_the_plugin_registers_the_text_sampler() -> None:
    registered = []
    register_samplers(register=lambda *entry: registered.append(entry))
    assert registered == [("text", TextSampler, TextSamplerConfig)]


# -- a model that reads a context --------------------------------------------------------------------


class ColumnTracker:
    """A context of 3 classes: the column of the current line, capped at 2."""

    size = 3

    def __init__(self) -> None:
        self.column = 0

    def feed(self, symbol: str) -> int:
        self.column = 0 if symbol == "\n" else self.column + 1
        return min(self.column, 2)


class ColumnFormat(SampleFormat):
    def context_tracker(self) -> ColumnTracker:
        return ColumnTracker()


class RecordingContext(nn.Module):
    """A tiny model with a context, keeping every context it is given."""

    def __init__(self, context_size: int = 3):
        super().__init__()
        torch.manual_seed(0)
        size = len(VOCABULARY)
        self.spec = DataSpec("tokens", size, "tokens", size, True, True, context_size=context_size)
        self.model = SequenceModel(
            self.spec, TinyCell, lambda width: TinyHead(width, size), ModelConfig(), embedding_size=8
        )
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs, state=None, context=None):
        self.seen.append(context)
        return self.model(inputs, state, context)


def test_a_model_with_a_context_gets_the_trackers_classes_for_what_it_draws() -> None:
    model = RecordingContext()
    sampler = TextSampler(TextSamplerConfig(prime="X:1\n", length=30, num_samples=2, seed=5))
    texts = sampler.generate(model, VOCABULARY, CPU, ColumnFormat())
    given = torch.cat(model.seen, dim=1)
    for stream, text in enumerate(texts):
        tracker = ColumnTracker()
        expected = [tracker.feed(symbol) for symbol in text]
        assert given[stream].tolist() == expected
    assert given.shape[1] == len(texts[0])  # the priming text and every drawn character


def test_a_model_with_a_context_needs_a_format_that_tracks_it() -> None:
    sampler = TextSampler(TextSamplerConfig(prime="X:1\n", length=5))
    with pytest.raises(ValueError, match="has no context tracker"):
        sampler.generate(RecordingContext(), VOCABULARY, CPU, SampleFormat())
    with pytest.raises(ValueError, match="trained with 4 context classes, but the sample format's tracker has 3"):
        sampler.generate(RecordingContext(context_size=4), VOCABULARY, CPU, ColumnFormat())
