"""seqkit.testing.check_dataset passes well-behaved datasets and fails broken ones, naming the fault."""

from __future__ import annotations

import pytest
import torch

from seqkit.components import Batch, DataSpec, Vocabulary
from seqkit.testing import check_dataset

from toy_plugin import ToySeries, ToySeriesConfig, ToyTokens, ToyTokensConfig


def test_check_dataset_accepts_token_streams():
    dataset = ToyTokens(ToyTokensConfig(batch_size=4, seq_length=6, length=300))
    assert check_dataset(dataset) is dataset


def test_check_dataset_accepts_shuffled_windows():
    dataset = ToySeries(ToySeriesConfig(batch_size=16, length=200))
    assert check_dataset(dataset) is dataset


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


class AnnouncedContext(ToyTokens):
    """Token streams whose spec announces three context classes; every context value is ``context_value``."""

    def __init__(self, config, context_value):
        super().__init__(config)
        self.spec = DataSpec("tokens", self.spec.input_size, "tokens", self.spec.target_size, True, True)
        self.spec = DataSpec(**{**self.spec.to_dict(), "context_size": 3})
        self.context_value = context_value

    def batches(self, split, epoch=0, shard=(0, 1)):
        for batch in super().batches(split, epoch, shard):
            context = None if self.context_value is None else torch.full_like(batch.inputs, self.context_value)
            yield Batch(batch.inputs, batch.targets, context)


def test_check_dataset_catches_a_missing_context():
    with pytest.raises(AssertionError, match="batch.context must be a long tensor"):
        check_dataset(AnnouncedContext(ToyTokensConfig(length=300), None))


def test_check_dataset_catches_an_out_of_range_context():
    with pytest.raises(AssertionError, match=r"context classes outside \[0, 3\)"):
        check_dataset(AnnouncedContext(ToyTokensConfig(length=300), 3))


def test_check_dataset_accepts_an_announced_context_in_range():
    dataset = AnnouncedContext(ToyTokensConfig(length=300), 2)
    assert check_dataset(dataset) is dataset


def test_check_dataset_catches_artifacts_that_are_not_plain_data():
    class TensorArtifacts(ToySeries):
        def artifacts(self):
            return {"mean": torch.tensor(0.5)}

    with pytest.raises(AssertionError, match="artifacts\\(\\) must be a dict of plain data"):
        check_dataset(TensorArtifacts(ToySeriesConfig(length=200)))


def test_check_dataset_catches_token_artifacts_without_the_vocabulary():
    class Forgetful(ToyTokens):
        def artifacts(self):
            return {"seq_length": self.config.seq_length}

    with pytest.raises(AssertionError, match="artifacts\\(\\) lacks its vocabulary, which seqkit sample needs"):
        check_dataset(Forgetful(ToyTokensConfig(length=300)))


def test_check_dataset_catches_a_dataset_that_does_not_subclass_the_contract():
    class Lookalike:
        spec = DataSpec("real", 1, "real", 1)

    with pytest.raises(AssertionError, match="must subclass seqkit.components.Dataset"):
        check_dataset(Lookalike())
