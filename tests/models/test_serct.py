"""SERCT and its ablations (seed 001 §4, §5.3, Table 5): shapes, DSA windows, counts."""

from __future__ import annotations

import math

import pytest
import torch

from ser_core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from ser_core.models import (capture_attention, count_parameters, create_model,
                             freeze_all_but_last)
from ser_core.models.layers import capture_windows
from ser_core.models.serct import DeformableSelfAttention, SERCTConfig, window_membership

SMALL = dict(conv_channels=32, embed_dim=32, ffn_dim=16, num_heads=4, num_layers=2,
             dense_dims=(16, 8))


def seed_param_count(num_classes: int, transformer: bool = True, deformable: bool = True,
                     cnn: bool = True) -> int:
    """SERCT's parameter count from seed 001 §4.3-§4.4, §5.3 (and the choices in serct.py).

    CNN: six bias-free Conv1d with 512 filters, kernels 10,3,3,3,2,2 -> 512*1*10 + 3*512*512*3
    + 2*512*512*2 = 3,412,992; a LayerNorm(512) after each: 6 * 1,024.
    Projection: LayerNorm(512) 1,024 + Linear(512 -> 1024) 525,312 (without CNN: LayerNorm(160)
    320 + Linear(160 -> 1024) 164,864).
    Transformer input LayerNorm(1024): 2,048. Per layer (d=1024, h=8, ff=512, no attention
    bias): q/k/v 3d^2 + output d^2 = 4,194,304; decision network d*2h + 2h = 16,400 (DSA
    only); two LayerNorms 2*2d = 4,096; feed-forward (d*ff + ff) + (ff*d + d) = 1,050,112.
    Dense head: 1024*512+512 + 512*256+256 = 656,128; classifier 256*C + C.
    """
    d, ff, h = 1024, 512, 8
    total = 0
    if cnn:
        total += 512 * 10 + 3 * 512 * 512 * 3 + 2 * 512 * 512 * 2 + 6 * 2 * 512
        total += 2 * 512 + (512 * d + d)
    else:
        total += 2 * 160 + (160 * d + d)
    if transformer:
        layer = 4 * d * d + 2 * 2 * d + (d * ff + ff) + (ff * d + d)
        if deformable:
            layer += d * 2 * h + 2 * h
        total += 2 * d + 4 * layer
    total += (d * 512 + 512) + (512 * 256 + 256) + (256 * num_classes + num_classes)
    return total


@pytest.mark.parametrize("name, kwargs", [
    ("serct", {}),
    ("serct_vanilla", {"deformable": False}),
    ("serct_cnn", {"transformer": False}),
    ("serct_nocnn", {"cnn": False}),
])
def test_parameter_count_matches_seed(name, kwargs):
    model = create_model(name, 7)
    assert count_parameters(model) == seed_param_count(7, **kwargs)


def test_serct_full_size_count_and_frames():
    assert seed_param_count(7) == 25_665_095
    cfg = SERCTConfig()
    assert cfg.num_frames(48_000) == 299  # 3 s at 16 kHz, 10 ms hop
    assert cfg.hop_samples == 160 and cfg.receptive_field == 200


def test_forward_backward_shapes_and_probes():
    torch.manual_seed(0)
    model = create_model("serct", 5, **SMALL)
    x = 0.1 * torch.randn(3, 8000)
    frames = model.config.num_frames(8000)
    with capture_attention(model) as maps, capture_windows(model) as windows:
        logits = model(x)
    assert logits.shape == (3, 5)
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters())
    # the decision network learns: the loss depends on the window
    assert model.encoder[0].attention.decision.weight.grad.abs().sum() > 0
    assert len(maps) == 2 and len(windows) == 2
    for name, a in maps.items():
        assert a.shape == (3, 4, frames, frames)
        torch.testing.assert_close(a.sum(-1), torch.ones(3, 4, frames))
    for name, w in windows.items():
        assert w.shape == (3, 4, frames, 2)
        assert (w[..., 0] >= 0).all() and (w[..., 1] <= frames - 1).all()
        assert (w[..., 0] <= w[..., 1]).all()


def test_attention_outside_window_is_zero():
    torch.manual_seed(1)
    model = create_model("serct", 4, **SMALL).eval()
    attn = model.encoder[0].attention
    with torch.no_grad():  # narrow windows pushed to the right, different per head
        attn.decision.bias[:4] = torch.tensor([0.0, 0.3, 0.8, -0.5])
        attn.decision.bias[4:] = torch.logit(torch.tensor([0.02, 0.05, 0.1, 0.2]))
    with torch.no_grad(), capture_attention(model) as maps, capture_windows(model) as wins:
        model(0.1 * torch.randn(2, 8000))
    a = maps["encoder.0.attention.probe"]
    w = wins["encoder.0.attention.window_probe"]
    n = a.shape[-1]
    keys = torch.arange(n, dtype=torch.float32)
    left, right = w[..., 0:1], w[..., 1:2]
    outside = (keys <= left - 1) | (keys >= right + 1)
    assert outside.any()
    assert a[outside].abs().max() == 0.0
    inside = (keys >= left) & (keys <= right)
    assert (a[inside] > 0).all()
    # the window follows the formula: centre j + tanh(o) * reach, half sigmoid(s) * T
    j = torch.arange(n, dtype=torch.float32)
    t = math.tanh(0.3)
    centre = j + t * (n - 1 - j)
    half = 0.05 * n
    torch.testing.assert_close(w[0, 1, :, 0], (centre - half).clamp(0, n - 1))
    torch.testing.assert_close(w[0, 1, :, 1], (centre + half).clamp(0, n - 1))


def test_integer_window_is_eq7_hard_slice():
    """With integer [L, R], DSA equals softmax(q K[L:R+1]^T / sqrt(d)) V[L:R+1] (eq. 7)."""
    torch.manual_seed(2)
    d, h, n = 16, 2, 9
    attn = DeformableSelfAttention(d, h, dropout=0.0, bias=False, deformable=True).eval()
    lefts = torch.randint(0, n, (1, h, n)).float()
    rights = torch.minimum(lefts + torch.randint(0, 4, (1, h, n)).float(), torch.tensor(n - 1.0))
    attn.windows = lambda q: torch.stack((lefts, rights), dim=-1)  # type: ignore[method-assign]
    x = torch.randn(1, n, d)
    with capture_attention(attn) as maps:
        attn(x)
    a = maps["probe"]
    q, k, _ = attn.qkv(x).chunk(3, dim=-1)
    hd = d // h
    for head in range(h):
        qh, kh = q[0, :, head * hd:(head + 1) * hd], k[0, :, head * hd:(head + 1) * hd]
        for j in range(n):
            lo, hi = int(lefts[0, head, j]), int(rights[0, head, j])
            expect = torch.zeros(n)
            expect[lo:hi + 1] = torch.softmax(qh[j] @ kh[lo:hi + 1].T / math.sqrt(hd), -1)
            torch.testing.assert_close(a[0, head, j], expect, atol=1e-6, rtol=1e-5)


def test_window_membership_ramps():
    m = window_membership(torch.tensor([2.25]), torch.tensor([4.5]), 8)[0]
    torch.testing.assert_close(m, torch.tensor([0, 0, 0.75, 1, 1, 0.5, 0, 0]).float())


def test_vanilla_has_full_attention_and_no_windows():
    torch.manual_seed(3)
    model = create_model("serct_vanilla", 3, **SMALL).eval()
    with torch.no_grad(), capture_attention(model) as maps, capture_windows(model) as wins:
        model(0.1 * torch.randn(1, 4000))
    assert wins == {}
    for a in maps.values():
        assert (a > 0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a[..., 0]))


@pytest.mark.parametrize("name", ["serct_cnn", "serct_nocnn"])
def test_ablations_forward(name):
    model = create_model(name, 4, **SMALL)
    y = model(0.1 * torch.randn(2, 4000))
    assert y.shape == (2, 4) and torch.isfinite(y).all()
    with capture_attention(model) as maps:
        model(0.1 * torch.randn(2, 4000))
    assert bool(maps) == (name == "serct_nocnn")


def test_batch_equals_single_in_eval_and_short_input_error():
    torch.manual_seed(4)
    model = create_model("serct", 3, **SMALL).eval()
    x = 0.1 * torch.randn(3, 6000)
    with torch.no_grad():
        batch = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="at least 200 samples"):
        model(torch.zeros(1, 150))


def test_groups_classifier_and_checkpoint_round_trip(tmp_path):
    model = create_model("serct", 7, **SMALL).eval()
    names = [n for n, _ in model.layer_groups()]
    assert names == [f"conv{i}" for i in range(1, 7)] + ["projection", "layer1", "layer2",
                                                          "dense", "classifier"]
    grouped = sum(p.numel() for _, mods in model.layer_groups() for m in mods for p in m.parameters())
    assert grouped == count_parameters(model)  # every parameter in exactly one group
    assert freeze_all_but_last(model, 2) == ["dense", "classifier"]
    model.reset_classifier(5)
    assert model(torch.zeros(1, 4000)).shape == (1, 5)
    meta = CheckpointMeta.for_model("serct", list("abcde"), type(model).input_spec,
                                    model_config=model.config_dict())
    save_checkpoint(tmp_path / "ck", model, meta)
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert loaded.config == model.config  # tuples survive the JSON round trip
    x = 0.1 * torch.randn(2, 4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
