"""SequenceModel: the input encoder chosen by the data, the stack, and the head."""

import torch

from seqkit.components import DataSpec
from seqkit.model import ModelConfig, SequenceModel
from seqkit.plugins.heads import RegressionConfig, RegressionHead, SoftmaxConfig, SoftmaxHead

from toy_plugin import ToyCell, ToyCellConfig

TOKENS = DataSpec("tokens", 7, "tokens", 7, stateful=True, sequence_targets=True)
REAL = DataSpec("real", 3, "real", 1)


def model_for(spec: DataSpec, config: ModelConfig, hidden_size: int = 6) -> SequenceModel:
    if spec.target_kind == "tokens":
        head = SoftmaxHead(SoftmaxConfig(), hidden_size, spec)
    else:
        head = RegressionHead(RegressionConfig(), hidden_size, spec)
    factory = lambda input_size: ToyCell(ToyCellConfig(hidden_size=hidden_size), input_size)  # noqa: E731
    return SequenceModel(spec, factory, head, config, hidden_size)


def test_token_inputs_are_embedded_as_wide_as_the_hidden_state_by_default():
    model = model_for(TOKENS, ModelConfig())
    assert isinstance(model.encoder, torch.nn.Embedding) and model.encoder.embedding_dim == 6
    logits, state = model(torch.randint(0, 7, (2, 5)))
    assert logits.shape == (2, 5, 7) and state[0][0].shape == (2, 6)


def test_embedding_size_sets_the_embedding_width():
    model = model_for(TOKENS, ModelConfig(embedding_size=3))
    assert model.encoder.embedding_dim == 3 and model.recurrent.layers[0].input_size == 3


def test_real_inputs_feed_the_cell_directly_unless_projected():
    direct = model_for(REAL, ModelConfig())
    assert isinstance(direct.encoder, torch.nn.Identity) and direct.recurrent.layers[0].input_size == 3
    projected = model_for(REAL, ModelConfig(embedding_size=4))
    assert isinstance(projected.encoder, torch.nn.Linear) and projected.recurrent.layers[0].input_size == 4
    predictions, _ = projected(torch.randn(2, 5, 3))
    assert predictions.shape == (2, 1)


def test_state_passed_back_in_continues_the_stream():
    torch.manual_seed(0)
    model = model_for(TOKENS, ModelConfig(num_layers=2)).eval()
    tokens = torch.randint(0, 7, (2, 8))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :3])
    rest, _ = model(tokens[:, 3:], state)
    assert torch.allclose(torch.cat([first, rest], dim=1), whole, atol=1e-6)
