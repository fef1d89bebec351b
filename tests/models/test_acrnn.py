"""ACRNN (seed 000 §3.1): parameter count from the seed's description, attention over time."""

from __future__ import annotations

import pytest
import torch

from ser_core.models import capture_attention, count_parameters, create_model, model_class
from ser_core.models.layers import AttentionPooling


def acrnn_parameters(num_classes: int, pool_freq: int = 2) -> int:
    """Seed 000 §3.1.2 (PyTorch layout: LSTMs carry two bias vectors per gate)."""
    conv = (3 * 128 * 5 * 3 + 128            # conv1: 3 -> 128, 5x3          5,888
            + 128 * 256 * 5 * 3 + 256        # conv2: 128 -> 256           491,776
            + 4 * (256 * 256 * 5 * 3 + 256))  # conv3-6: 256 -> 256      3,933,184
    bottleneck = 256 * (40 // pool_freq) * 768 + 768 + 2 * 768  # linear 768 + its BN
    blstm = 2 * (4 * 128 * (768 + 128) + 2 * 4 * 128)  # 2 directions x 4 gates  919,552
    attention = 256                                     # w . h_t, no bias
    fc = 256 * 64 + 64 + 2 * 64                         # FC 64 + BN            16,576
    classifier = 64 * num_classes + num_classes
    return conv + bottleneck + blstm + attention + fc + classifier


def test_parameter_count_matches_the_seed():
    assert acrnn_parameters(4) == 9_301_956
    assert count_parameters(create_model("acrnn", 4)) == acrnn_parameters(4)
    # the public code's 2x4 pooling (40 bands -> 10) gives a 2,560 -> 768 bottleneck
    assert count_parameters(create_model("acrnn", 4, pool_freq=4)) == acrnn_parameters(4, 4)


def test_input_spec_is_the_seeds():
    spec = model_class("acrnn").input_spec
    assert (spec.feature, spec.segment_s, spec.aggregation) == ("logmel_deltas", 3.0, "max")
    assert model_class("acrnn").seed_num_classes == 4


def test_full_size_is_length_agnostic_and_exposes_alpha_over_time():
    model = create_model("acrnn", 4).eval()
    for frames in (20, 37):
        x = torch.randn(2, 3, 40, frames)
        with torch.no_grad(), capture_attention(model) as maps:
            assert model(x).shape == (2, 4)
        alpha = maps["attention.probe"]
        assert alpha.shape == (2, frames // 2)  # one weight per pooled step (20 ms)
        torch.testing.assert_close(alpha.sum(-1), torch.ones(2))


def test_attention_pooling_is_the_weighted_sum_of_eq_13():
    pool = AttentionPooling(6)
    h = torch.randn(3, 5, 6)
    with capture_attention(pool) as maps:
        c = pool(h)
    alpha = maps["probe"]
    expected_alpha = torch.softmax(h @ pool.score.weight[0], dim=1)  # eq. 12 with the exp
    torch.testing.assert_close(alpha, expected_alpha)
    torch.testing.assert_close(c, (alpha.unsqueeze(-1) * h).sum(1))


def test_wrong_input_shape_is_refused():
    model = create_model("acrnn", 4, conv_channels=(4, 4, 4, 4, 4, 4))
    with pytest.raises(ValueError, match="acrnn expects"):
        model(torch.randn(2, 1, 40, 30))


def test_fine_tuning_groups_end_with_attention_fc_classifier():
    names = [n for n, _ in create_model("acrnn", 4).layer_groups()]
    assert names == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "bottleneck",
                     "blstm", "attention", "fc", "classifier"]
