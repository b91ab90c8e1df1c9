"""The noisy-sine data set honours seqkit's dataset contract (seqkit.testing does the checking)."""

import pytest
import torch
from seqkit_example_plugin.noisy_sine import NoisySine, NoisySineConfig

from seqkit.testing import check_dataset

SMALL = NoisySineConfig(waves=20, length=40, window=8, batch_size=16)


def test_noisy_sine_honours_the_dataset_contract():
    check_dataset(NoisySine(SMALL))


def test_noisy_sine_with_the_default_config_honours_the_contract():
    check_dataset(NoisySine(NoisySineConfig()))


def test_the_same_seed_makes_the_same_waves():
    first, second = NoisySine(SMALL), NoisySine(SMALL)
    torch.testing.assert_close(first.windows["test"], second.windows["test"])


def test_a_window_as_long_as_the_series_is_refused():
    with pytest.raises(ValueError, match="dataset.length .* must exceed dataset.window"):
        NoisySine(NoisySineConfig(length=16, window=16))
