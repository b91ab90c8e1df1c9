"""seqkit.testing: each check passes a well-behaved component and fails a broken one, naming the fault."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqkit.components import Batch, DataSpec, SampleFormat, Vocabulary
from seqkit.plugins.heads import RegressionConfig, RegressionHead, SoftmaxConfig, SoftmaxHead
from seqkit.plugins.sampler import TextSampler, TextSamplerConfig
from seqkit.testing import (
    check_cell,
    check_dataset,
    check_head,
    check_sampler,
    run_tiny_experiment,
    tiny_token_model,
)

from conftest import TOY_SERIES
from toy_plugin import ToyCell, ToyCellConfig, ToySeries, ToySeriesConfig, ToyTokens, ToyTokensConfig

# -- cells -------------------------------------------------------------------------------------------


def test_check_cell_accepts_a_plain_cell():
    cell = check_cell(ToyCell, ToyCellConfig(hidden_size=6), input_size=3)
    assert (cell.input_size, cell.hidden_size) == (3, 6)


def test_check_cell_rejects_a_module_that_is_not_a_cell():
    def factory(config, input_size):
        return nn.RNNCell(input_size, config.hidden_size)

    with pytest.raises(AssertionError, match="not a seqkit.components.Cell subclass"):
        check_cell(factory, ToyCellConfig())


def test_check_cell_rejects_a_wrong_state_shape():
    class WideState(ToyCell):
        def initial_state(self, batch_size, device, dtype):
            return (torch.zeros(batch_size, self.hidden_size + 1, device=device, dtype=dtype),)

    with pytest.raises(AssertionError, match=r"state\[0\] has shape \(4, 9\), expected"):
        check_cell(WideState, ToyCellConfig(hidden_size=8))


def test_check_cell_rejects_a_cell_that_ignores_its_state():
    class Forgetful(ToyCell):
        def forward(self, x, state):
            h = torch.tanh(self.step.weight_ih @ x.T).T
            return h, (h,)

    with pytest.raises(AssertionError, match="ignores its state"):
        check_cell(Forgetful, ToyCellConfig())


def test_check_cell_rejects_a_sequence_path_that_disagrees_with_stepping():
    class Reversed(ToyCell):
        def forward_sequence(self, inputs, state):
            outputs = []
            for t in reversed(range(inputs.shape[1])):
                h, state = self(inputs[:, t], state)
                outputs.append(h)
            return torch.stack(outputs, dim=1), state

    with pytest.raises(AssertionError, match="forward_sequence and stepping give different outputs"):
        check_cell(Reversed, ToyCellConfig())


def test_check_cell_rejects_a_sequence_path_with_wrong_gradients():
    class Truncated(ToyCell):
        def forward_sequence(self, inputs, state):
            outputs = []
            for t in range(inputs.shape[1]):
                h, _ = self(inputs[:, t], state)
                state = (h.detach(),)  # same numbers as stepping, but no gradient through time
                outputs.append(h)
            return torch.stack(outputs, dim=1), (h,)

    with pytest.raises(AssertionError, match=r"gradients of 'step\.\w+' differ between forward_sequence and stepping"):
        check_cell(Truncated, ToyCellConfig())


def test_check_cell_rejects_a_parameter_without_gradient():
    class Unused(ToyCell):
        def __init__(self, config, input_size):
            super().__init__(config, input_size)
            self.spare = nn.Parameter(torch.ones(3))

    with pytest.raises(AssertionError, match="parameter 'spare' gets no gradient"):
        check_cell(Unused, ToyCellConfig())


# -- datasets ----------------------------------------------------------------------------------------


def test_check_dataset_accepts_token_streams():
    check_dataset(ToyTokens(ToyTokensConfig(batch_size=4, seq_length=6, length=300)))


def test_check_dataset_accepts_shuffled_windows():
    check_dataset(ToySeries(ToySeriesConfig(batch_size=16, length=200)))


def test_check_dataset_catches_num_batches_that_lies():
    class Overcounting(ToySeries):
        def num_batches(self, split):
            return super().num_batches(split) + 1

    with pytest.raises(AssertionError, match=r"num_batches\('train'\) is \d+ but batches\('train'\) yielded"):
        check_dataset(Overcounting(ToySeriesConfig(length=200)))


def test_check_dataset_catches_shuffling_from_global_random_state():
    class Unseeded(ToySeries):
        def batches(self, split, epoch=0, shard=(0, 1)):
            order = torch.randperm(len(self.ranges[split])) + self.ranges[split].start
            for start in range(0, len(order), self.config.batch_size):
                chosen = order[start : start + self.config.batch_size][shard[0] :: shard[1]]
                yield Batch(self.inputs[chosen], self.targets[chosen])

    with pytest.raises(AssertionError, match=r"batches\('train', epoch=1\) differ between two passes"):
        check_dataset(Unseeded(ToySeriesConfig(length=200)))


def test_check_dataset_catches_shards_that_overlap():
    class IgnoresShard(ToySeries):
        def batches(self, split, epoch=0, shard=(0, 1)):
            return super().batches(split, epoch, (0, 1))

    with pytest.raises(AssertionError, match="the same example on more than one rank"):
        check_dataset(IgnoresShard(ToySeriesConfig(length=200)))


def test_check_dataset_catches_non_finite_targets():
    with pytest.raises(AssertionError, match="targets hold NaN"):
        check_dataset(ToySeries(ToySeriesConfig(length=200, shuffle=False, nan_window=3)))


def test_check_dataset_catches_tokens_beyond_the_vocabulary():
    class ShortVocabulary(ToyTokens):
        def __init__(self, config):
            super().__init__(config)
            self.vocabulary = Vocabulary(list("abc"))
            self.spec = DataSpec("tokens", 4, "tokens", 4, True, True)

    with pytest.raises(AssertionError, match=r"token inputs outside \[0, 4\)"):
        check_dataset(ShortVocabulary(ToyTokensConfig(length=300)))


def test_check_dataset_catches_a_context_the_spec_does_not_announce():
    class StrayContext(ToyTokens):
        def batches(self, split, epoch=0, shard=(0, 1)):
            for batch in super().batches(split, epoch, shard):
                yield Batch(batch.inputs, batch.targets, torch.zeros_like(batch.inputs))

    with pytest.raises(AssertionError, match="has a context but spec.context_size is 0"):
        check_dataset(StrayContext(ToyTokensConfig(length=300)))


def test_check_dataset_catches_a_missing_or_out_of_range_context():
    class AnnouncedContext(ToyTokens):
        def __init__(self, config, context_value):
            super().__init__(config)
            self.spec = DataSpec("tokens", self.spec.input_size, "tokens", self.spec.target_size, True, True)
            self.spec = DataSpec(**{**self.spec.to_dict(), "context_size": 3})
            self.context_value = context_value

        def batches(self, split, epoch=0, shard=(0, 1)):
            for batch in super().batches(split, epoch, shard):
                context = None if self.context_value is None else torch.full_like(batch.inputs, self.context_value)
                yield Batch(batch.inputs, batch.targets, context)

    with pytest.raises(AssertionError, match="batch.context must be a long tensor"):
        check_dataset(AnnouncedContext(ToyTokensConfig(length=300), None))
    with pytest.raises(AssertionError, match=r"context classes outside \[0, 3\)"):
        check_dataset(AnnouncedContext(ToyTokensConfig(length=300), 3))
    check_dataset(AnnouncedContext(ToyTokensConfig(length=300), 2))


def test_check_dataset_catches_artifacts_that_are_not_plain_data():
    class TensorArtifacts(ToySeries):
        def artifacts(self):
            return {"mean": torch.tensor(0.5)}

    with pytest.raises(AssertionError, match="artifacts\\(\\) must be a dict of plain data"):
        check_dataset(TensorArtifacts(ToySeriesConfig(length=200)))


# -- heads -------------------------------------------------------------------------------------------

REAL = DataSpec("real", 3, "real", 2)
TOKENS = DataSpec("tokens", 5, "tokens", 5, stateful=True, sequence_targets=True)


def test_check_head_accepts_the_built_in_heads():
    assert check_head(RegressionHead, RegressionConfig(), REAL).main_metric == "mse"
    assert check_head(SoftmaxHead, SoftmaxConfig(), TOKENS).main_metric == "loss"


def test_check_head_catches_metric_sums_that_are_means():
    class Averaging(RegressionHead):
        def metric_sums(self, predictions, targets):
            sums = super().metric_sums(predictions, targets)
            return {**sums, "squared_error": sums["squared_error"] / sums["count"]}

    with pytest.raises(AssertionError, match="metric_sums is not additive: 'squared_error'"):
        check_head(Averaging, RegressionConfig(), REAL)


def test_check_head_catches_upper_case_metric_names():
    class Shouting(RegressionHead):
        def metrics(self, sums):
            return {**super().metrics(sums), "MSE": 0.0}

    with pytest.raises(AssertionError, match="metric name 'MSE' is not lower case"):
        check_head(Shouting, RegressionConfig(), REAL)


def test_check_head_catches_a_loss_without_gradient():
    class Detached(RegressionHead):
        def loss(self, predictions, targets):
            return super().loss(predictions.detach(), targets)

    with pytest.raises(AssertionError, match="loss has no gradient"):
        check_head(Detached, RegressionConfig(), REAL)


# -- samplers ----------------------------------------------------------------------------------------

VOCABULARY = Vocabulary(list("X:1\nabc"))


def test_check_sampler_accepts_the_text_sampler():
    result = check_sampler(TextSampler, TextSamplerConfig(length=40), tiny_token_model(VOCABULARY), VOCABULARY)
    assert result["path"] == "samples.txt" and result["characters"] > 40


def test_check_sampler_catches_sampling_from_global_random_state():
    class Unseeded(TextSampler):
        def sample(self, model, vocabulary, out_dir, sample_format, device):
            self.config.seed = int(torch.randint(0, 1000, ()))
            return super().sample(model, vocabulary, out_dir, sample_format, device)

    with pytest.raises(AssertionError, match="wrote different samples.txt"):
        check_sampler(Unseeded, TextSamplerConfig(length=40), tiny_token_model(VOCABULARY), VOCABULARY)


def test_check_sampler_catches_files_written_outside_out_dir():
    class Stray(TextSampler):
        def sample(self, model, vocabulary, out_dir, sample_format, device):
            result = super().sample(model, vocabulary, out_dir.parent, SampleFormat(".stray"), device)
            (out_dir / "note.txt").write_text("kept here")
            return {**result, "path": str(out_dir.parent / result["path"])}

    with pytest.raises(AssertionError, match="outside the out_dir it was given"):
        check_sampler(Stray, TextSamplerConfig(length=10), tiny_token_model(VOCABULARY), VOCABULARY)


# -- presets -----------------------------------------------------------------------------------------


def test_run_tiny_experiment_trains_a_composition_for_a_few_steps(host, tmp_path):
    overrides = [override for override in TOY_SERIES if not override.startswith("trainer.max_steps")]
    summary = run_tiny_experiment(overrides, tmp_path, max_steps=3, host=host)
    assert summary["status"] == "completed" and summary["steps"] == 3
    assert (tmp_path / "run" / "summary.json").is_file()


def test_check_head_catches_a_head_that_scores_padding():
    class CountsPadding(SoftmaxHead):
        def metric_sums(self, predictions, targets):
            sums = super().metric_sums(predictions, targets)
            return {**sums, "count": float(targets.numel())}

    with pytest.raises(AssertionError, match="metric_sums counts padding: 'count'"):
        check_head(CountsPadding, SoftmaxConfig(), TOKENS)
