"""Parallel CNNs + transformer (seed 003): 248,488 parameters, torch-equivalent encoder layer."""

from __future__ import annotations

import torch

from ser_core.models import capture_attention, count_parameters, create_model, model_class
from ser_core.models.layers import TransformerEncoderLayer


def parallel_parameters(num_classes: int) -> int:
    """Seed 003's printed summary, plus what its tool skipped.

    conv block (x2): 160 + 32 + 4,640 + 64 + 18,496 + 128 = 23,520   (conv 3x3 + BN each)
    encoder layer (x4): attention in-projection 3 x (40 x 40 + 40) = 4,920 and out-projection
        40 x 40 + 40 = 1,640 (= 6,560, missing from the summary), 2 LayerNorms 2 x 80,
        feed-forward 40 -> 512 (20,992) and 512 -> 40 (20,520): 48,232
    classifier: (512 + 512 + 40) x 8 + 8 = 8,520
    """
    conv_block = (9 + 1) * 16 + 2 * 16 + (16 * 9 + 1) * 32 + 2 * 32 + (32 * 9 + 1) * 64 + 2 * 64
    attention = 3 * (40 * 40 + 40) + (40 * 40 + 40)
    layer = attention + 2 * 80 + (40 * 512 + 512) + (512 * 40 + 40)
    classifier = (512 + 512 + 40) * num_classes + num_classes
    return 2 * conv_block + 4 * layer + classifier


def test_parameter_count_matches_the_seed():
    assert parallel_parameters(8) == 248_488
    assert parallel_parameters(8) - 4 * 6_560 == 222_248  # the seed's printed total
    assert count_parameters(create_model("parallel_cnn_transformer", 8)) == 248_488
    assert model_class("parallel_cnn_transformer").seed_num_classes == 8


def test_input_spec():
    spec = model_class("parallel_cnn_transformer").input_spec
    assert spec.feature == "mfcc_image" and spec.segment_s == 3.0
    assert spec.params["n_mfcc"] == 40 and spec.params["n_frames"] == 282


def test_encoder_layer_equals_torch_transformer_encoder_layer():
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(40, 4, 512, dropout=0.4, activation="relu").eval()
    ref = torch.nn.TransformerEncoderLayer(40, 4, 512, dropout=0.4, activation="relu",
                                           batch_first=True).eval()
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x = torch.randn(3, 70, 40)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
        _, ref_weights = ref.self_attn(x, x, x, need_weights=True, average_attn_weights=False)
        with capture_attention(ours) as maps:
            ours(x)
    torch.testing.assert_close(maps["self_attn.probe"], ref_weights, rtol=1e-5, atol=1e-6)


def test_self_attention_maps_per_layer_and_head():
    model = create_model("parallel_cnn_transformer", 8).eval()
    x = torch.randn(2, 1, 40, 282)
    with torch.no_grad(), capture_attention(model) as maps:
        assert model(x).shape == (2, 8)
    assert sorted(maps) == [f"encoder.{i}.self_attn.probe" for i in range(4)]
    for weights in maps.values():
        assert weights.shape == (2, 4, 70, 70)  # (batch, heads, queries, keys)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 70))


def test_conv_blocks_flatten_to_512():
    model = create_model("parallel_cnn_transformer", 8)
    assert model.config.conv_embedding == 512
    assert model.conv_a(torch.randn(1, 1, 40, 282)).shape == (1, 64, 1, 8)
