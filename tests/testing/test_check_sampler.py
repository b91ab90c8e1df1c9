"""seqkit.testing.check_sampler passes the text sampler and fails broken ones, naming the fault."""

from __future__ import annotations

import pytest
import torch

from seqkit.components import SampleFormat, Vocabulary
from seqkit.plugins.sampler import TextSampler, TextSamplerConfig
from seqkit.testing import check_sampler, tiny_token_model

VOCABULARY = Vocabulary(list("X:1\nabc"))


def test_check_sampler_accepts_the_text_sampler():
    result = check_sampler(
        TextSampler, TextSamplerConfig(prime="X:1\n", length=40), tiny_token_model(VOCABULARY), VOCABULARY
    )
    assert result["path"] == "samples.txt" and result["characters"] > 40


def test_check_sampler_catches_sampling_from_global_random_state():
    class Unseeded(TextSampler):
        def sample(self, model, vocabulary, out_dir, sample_format, device):
            self.config.seed = int(torch.randint(0, 1000, ()))
            return super().sample(model, vocabulary, out_dir, sample_format, device)

    with pytest.raises(AssertionError, match="wrote different samples.txt"):
        check_sampler(Unseeded, TextSamplerConfig(prime="X:1\n", length=40), tiny_token_model(VOCABULARY), VOCABULARY)


def test_check_sampler_catches_files_written_outside_out_dir():
    class Stray(TextSampler):
        def sample(self, model, vocabulary, out_dir, sample_format, device):
            result = super().sample(model, vocabulary, out_dir.parent, SampleFormat(".stray"), device)
            (out_dir / "note.txt").write_text("kept here")
            return {**result, "path": str(out_dir.parent / result["path"])}

    with pytest.raises(AssertionError, match="outside the out_dir it was given"):
        check_sampler(Stray, TextSamplerConfig(prime="X:1\n", length=10), tiny_token_model(VOCABULARY), VOCABULARY)
