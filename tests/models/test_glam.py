"""GLAM and GLAM+ (seed 000 §3.2, §5.3): parameter counts, global-aware block."""

from __future__ import annotations

import pytest
import torch

from ser_core.models import count_parameters, create_model, model_class
from ser_core.models.glam import GlobalAwareBlock


def multi_scale(c: int) -> int:
    """3x3 and 5x5 convs C -> C with bias, BN over the 2C concatenation."""
    return (c * c * 9 + c) + (c * c * 25 + c) + 2 * 2 * c


def glam_parameters(num_classes: int, n_blocks: int = 3, n_mfcc: int = 26,
                    n_frames: int = 63) -> int:
    stem = 2 * (1 * 16 * 3 + 16 + 2 * 16)         # 3x1 and 1x3 convs to 16 + BNs      192
    blocks = sum(multi_scale(16 * 2 ** i) for i in range(n_blocks))
    ch = 16 * 2 ** n_blocks                        # 128 for GLAM, 256 for GLAM+
    conv_out = ch * ch * 25 + ch + 2 * ch          # 5x5 conv + BN
    dim = (2 * n_mfcc // 4) * (n_frames // 4)      # 13 x 15 positions after two 2x2 pools
    gmlp = (2 * dim                                # pre-LayerNorm
            + dim * 4 * dim + 4 * dim              # U: dim -> 4 dim
            + 2 * 2 * dim                          # LayerNorm of Z2 (2 dim wide)
            + ch * ch + ch                         # 1x1 conv gate across the ch tokens
            + 2 * dim * dim + dim)                 # V: 2 dim -> dim
    classifier = ch * dim * num_classes + num_classes
    return stem + blocks + conv_out + gmlp + classifier


def test_parameter_counts():
    assert glam_parameters(4) == 940_283
    assert glam_parameters(4, n_blocks=4) == 2_876_411
    assert count_parameters(create_model("glam", 4)) == glam_parameters(4)
    assert count_parameters(create_model("glam_plus", 4)) == glam_parameters(4, n_blocks=4)


def test_input_specs():
    for name in ("glam", "glam_plus"):
        spec = model_class(name).input_spec
        assert (spec.feature, spec.segment_s, spec.hop_s, spec.aggregation) == (
            "mfcc", 2.0, 0.4, "mean")  # 2 s segments, 1.6 s overlap, mean of posteriors
        assert spec.params["n_mfcc"] == 26 and spec.params["n_frames"] == 63


def test_input_features_are_the_public_codes_librosa_mfcc():
    librosa = pytest.importorskip("librosa")
    from ser_core.features.pipeline import extract
    from tests.conftest import tone

    wave = tone(seconds=2.0, sr=16000)
    ours = extract("mfcc", torch.from_numpy(wave), 16000, **model_class("glam").input_spec.params)
    ref = librosa.feature.mfcc(y=wave, sr=16000, n_mfcc=26)  # GLAM's process.py
    assert ours.shape == (1, 26, 63)
    torch.testing.assert_close(ours[0], torch.from_numpy(ref), rtol=0, atol=1e-2)


def test_glam_plus_has_one_more_multi_scale_block():
    glam = [n for n, _ in create_model("glam", 4).layer_groups()]
    plus = [n for n, _ in create_model("glam_plus", 4).layer_groups()]
    assert glam == ["stem", "block1", "block2", "block3", "conv_out", "global_aware", "classifier"]
    assert plus == glam[:4] + ["block4"] + glam[4:]


def test_full_size_forward():
    for name in ("glam", "glam_plus"):
        model = create_model(name, 4).eval()
        with torch.no_grad():
            assert model(torch.randn(2, 1, 26, 63)).shape == (2, 4)
        with pytest.raises(ValueError, match="expects"):
            model(torch.randn(2, 1, 26, 60))


def test_global_aware_block_mixes_tokens_through_the_gate_only():
    torch.manual_seed(0)
    block = GlobalAwareBlock(dim=12, seq_len=5).eval()
    with torch.no_grad():
        torch.nn.init.normal_(block.sgu.proj.weight)
        x = torch.randn(1, 5, 12)
        x2 = x.clone()
        x2[0, 0, :6] += 1.0  # change token 0 only (not by a constant: LayerNorm removes it)
        changed = (block(x2) - block(x))[0].abs().sum(-1)
        assert (changed[1:] > 1e-6).all(), "the spatial gating unit spreads token 0 to all"
        block.sgu.proj.weight.zero_()  # no spatial weights: tokens stay independent
        changed = (block(x2) - block(x))[0].abs().sum(-1)
        assert changed[0] > 1e-6 and (changed[1:] < 1e-6).all()


def test_global_aware_block_follows_eqs_19_to_23():
    torch.manual_seed(1)
    block = GlobalAwareBlock(dim=8, seq_len=3)
    x = torch.randn(2, 3, 8)
    z = torch.nn.functional.gelu(block.proj_in(block.norm(x)))              # eq. 19
    z1, z2 = z[..., :16], z[..., 16:]
    w = block.sgu.proj.weight[:, :, 0]
    gate = torch.einsum("mn,bnd->bmd", w, block.sgu.norm(z2)) + block.sgu.proj.bias[:, None]
    expected = x + block.proj_out(z1 * torch.tanh(gate))                  # eqs. 20-23
    torch.testing.assert_close(block(x), expected)
