"""SequenceModel: the input encoder chosen by the data, the stack, and the head."""

import pytest
import torch

from seqkit.components import DataSpec, ModelExtension
from seqkit.model import ModelConfig, SequenceModel
from seqkit.plugins.heads import RegressionConfig, RegressionHead, SoftmaxConfig, SoftmaxHead

from toy_plugin import ToyCell, ToyCellConfig

TOKENS = DataSpec("tokens", 7, "tokens", 7, stateful=True, sequence_targets=True)
REAL = DataSpec("real", 3, "real", 1)


def model_for(spec: DataSpec, config: ModelConfig, hidden_size: int = 6) -> SequenceModel:
    def head(width: int) -> SoftmaxHead | RegressionHead:
        if spec.target_kind == "tokens":
            return SoftmaxHead(SoftmaxConfig(), width, spec)
        return RegressionHead(RegressionConfig(), width, spec)

    factory = lambda input_size: ToyCell(ToyCellConfig(hidden_size=hidden_size), input_size)  # noqa: E731
    return SequenceModel(spec, factory, head, config, hidden_size)


def regression_head(width: int) -> RegressionHead:
    return RegressionHead(RegressionConfig(), width, REAL)


def toy_layer(input_size: int) -> ToyCell:
    return ToyCell(ToyCellConfig(hidden_size=6), input_size)


def test_token_inputs_are_embedded_as_wide_as_the_hidden_state_by_default():
    model = model_for(TOKENS, ModelConfig())
    assert isinstance(model.encoder, torch.nn.Embedding) and model.encoder.embedding_dim == 6
    logits, state = model(torch.randint(0, 7, (2, 5)))
    assert logits.shape == (2, 5, 7) and state[0][0].shape == (2, 6)


def test_embedding_size_sets_the_embedding_width():
    model = model_for(TOKENS, ModelConfig(embedding_size=3))
    assert model.encoder.embedding_dim == 3 and model.recurrent.layers[0].input_size == 3


def test_input_dropout_drops_embedded_inputs_in_training_only():
    torch.manual_seed(0)
    model = model_for(TOKENS, ModelConfig(input_dropout=0.5))
    seen = []
    model.recurrent.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    tokens = torch.randint(0, 7, (4, 9))
    model(tokens)
    model.eval()(tokens)
    embedded = model.encoder(tokens)
    dropped = seen[0] == 0
    assert 0.3 < dropped.float().mean() < 0.7
    assert torch.allclose(seen[0][~dropped], 2 * embedded[~dropped])  # kept inputs scaled by 1 / (1 - p)
    assert torch.equal(seen[1], embedded)


def test_input_dropout_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match=r"model.input_dropout must be in \[0, 1\), got 1.0"):
        model_for(TOKENS, ModelConfig(input_dropout=1.0))


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


class AddLastInput(ModelExtension):
    """Adds the last step's first feature to each prediction: an extension whose effect is known."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs[:, -1, :1]


def test_a_dataset_extension_adds_to_the_heads_predictions():
    model = SequenceModel(REAL, toy_layer, regression_head, ModelConfig(), 6, AddLastInput)
    inputs = torch.randn(4, 5, 3)
    hidden, _ = model.recurrent(inputs)
    assert torch.allclose(model(inputs)[0], model.head(hidden) + inputs[:, -1, :1], atol=1e-6)
    assert isinstance(model.extension, AddLastInput)


def test_init_schemes_set_matrix_bounds_and_zero_biases():
    import math

    import pytest

    from seqkit.model import initialize

    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 200)
    initialize(layer, "uniform_unit_scaling")
    assert layer.weight.abs().max() <= math.sqrt(3 / 300) and layer.weight.abs().max() > 0.9 * math.sqrt(3 / 300)
    assert torch.count_nonzero(layer.bias) == 0
    initialize(layer, "glorot_uniform")
    assert 0.9 * math.sqrt(6 / 500) < layer.weight.abs().max() <= math.sqrt(6 / 500)
    before = layer.weight.clone()
    initialize(layer, "default")
    assert torch.equal(layer.weight, before)
    with pytest.raises(ValueError, match="model.init must be one of"):
        initialize(layer, "xavier")


def test_model_init_applies_to_every_layer():
    model = model_for(REAL, ModelConfig(init="uniform_unit_scaling"))
    for name, parameter in model.named_parameters():
        if parameter.dim() == 1:
            assert torch.count_nonzero(parameter) == 0, name


def steps_changed_by_context(model: SequenceModel) -> tuple[list[list[bool]], tuple]:
    """Which steps' predictions change when the context of stream 0, step 2 changes; and both last states."""
    tokens = torch.randint(0, 7, (2, 5))
    one, state_one = model(tokens, None, torch.zeros(2, 5, dtype=torch.long))
    context = torch.zeros(2, 5, dtype=torch.long)
    context[0, 2] = 3
    other, state_other = model(tokens, None, context)
    return (~torch.isclose(one, other).all(dim=-1)).tolist(), (state_one, state_other)


def test_a_context_at_the_input_is_embedded_and_added_to_the_inputs():
    spec = DataSpec(**{**TOKENS.to_dict(), "context_size": 4})
    model = model_for(spec, ModelConfig(context_at="input"))
    assert model.context_encoder.num_embeddings == 4 and model.context_encoder.embedding_dim == 6
    assert model.context_mix is None
    changed, _ = steps_changed_by_context(model)
    # The state carries the context on: every step from the changed one is different.
    assert changed == [[False, False, True, True, True], [False] * 5]


def test_a_context_at_the_output_changes_only_its_own_step():
    spec = DataSpec(**{**TOKENS.to_dict(), "context_size": 4})
    model = model_for(spec, ModelConfig())  # output is the default
    assert model.context_encoder is None and model.context_mix.embedding.num_embeddings == 4
    changed, (state_one, state_other) = steps_changed_by_context(model)
    assert changed == [[False, False, True, False, False], [False] * 5]
    assert all(torch.equal(a, b) for a, b in zip(state_one[-1], state_other[-1], strict=True))


def test_a_model_with_a_context_needs_one_and_a_known_place_for_it():
    spec = DataSpec(**{**TOKENS.to_dict(), "context_size": 4})
    with pytest.raises(ValueError, match="reads 4 context classes beside its inputs, and none were given"):
        model_for(spec, ModelConfig())(torch.randint(0, 7, (2, 5)))
    with pytest.raises(ValueError, match="model.context_at must be one of input, output"):
        model_for(spec, ModelConfig(context_at="middle"))


def test_a_model_without_a_context_has_no_context_layers():
    model = model_for(TOKENS, ModelConfig())
    assert model.context_encoder is None and model.context_mix is None


def test_the_head_and_context_mix_are_sized_from_the_built_stack_not_the_cell_config():
    narrow = lambda input_size: ToyCell(ToyCellConfig(hidden_size=5), input_size)  # noqa: E731
    spec = DataSpec("tokens", 7, "tokens", 7, stateful=True, sequence_targets=True, context_size=3)
    head = lambda width: SoftmaxHead(SoftmaxConfig(), width, spec)  # noqa: E731
    model = SequenceModel(spec, narrow, head, ModelConfig(), embedding_size=6)
    assert model.encoder.embedding_dim == 6 and model.recurrent.hidden_size == 5
    assert model.head.linear.in_features == 5 and model.context_mix.mix.in_features == 5
    logits, _ = model(torch.randint(0, 7, (2, 4)), context=torch.randint(0, 3, (2, 4)))
    assert logits.shape == (2, 4, 7)
