"""The training/inference feature entry point, the normalisation format and CheckpointMeta."""

from __future__ import annotations

import json

import torch

from ser_core.checkpoint import CheckpointMeta
from ser_core.checkpoint import inputs as fz
from ser_core.models import model_class


def test_running_moments_match_torch():
    torch.manual_seed(0)
    batches = [torch.randn(5, 3, 4, 7) * 3 + 1, torch.randn(2, 3, 4, 9)]
    m = fz.RunningMoments()
    for b in batches:
        m.update(b)
    norm = m.result()
    flat = torch.cat([b.movedim(-1, 1).reshape(-1, 3, 4) for b in batches]).double()
    ref_mean, ref_std = flat.mean(0), flat.std(0, unbiased=False)
    entry = norm["inputs"]["x"]
    assert entry["shape"] == [3, 4]
    torch.testing.assert_close(torch.tensor(entry["mean"]).double(), ref_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(entry["std"]).double(), ref_std, atol=1e-5, rtol=0)
    json.dumps(norm)  # JSON-able, as the checkpoint stores it
    x = batches[0]
    y = fz.apply_normalization(x, norm)
    expected = (x - ref_mean.float()[..., None]) / (ref_std.float()[..., None] + norm["eps"])
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)


def test_dict_inputs_and_waveforms():
    m = fz.RunningMoments()
    m.update({"a": torch.randn(4, 1, 100), "b": torch.randn(4, 2, 5, 6)})
    norm = m.result()
    assert norm["inputs"]["a"]["shape"] == [1] and norm["inputs"]["b"]["shape"] == [2, 5]
    out = fz.apply_normalization({"a": torch.ones(1, 1, 3), "b": torch.zeros(1, 2, 5, 6)}, norm)
    assert set(out) == {"a", "b"}
    assert fz.apply_normalization(torch.ones(2), None) is not None


def test_normalization_of_a_freed_checkpoint_never_applies_to_the_next():
    """Statistics are cached per normalisation dict by id(); a freed dict's id is reused by the
    next one (seen in CI: a 3-channel model's statistics broadcast a 1-channel input to 3)."""
    x = torch.ones(2, 1, 4, 5)
    for i in range(50):
        channels = 3 if i % 2 else 1
        norm = {"type": "mean_std", "eps": 0.0,
                "inputs": {fz.SINGLE: {"shape": [channels, 4],
                                       "mean": [[float(i)] * 4] * channels,
                                       "std": [[1.0] * 4] * channels}}}
        y = fz.apply_normalization(x if channels == 1 else x.expand(2, 3, 4, 5), norm)
        assert y.shape[1] == channels
        torch.testing.assert_close(y, torch.full_like(y, 1.0 - i))
        del norm


def test_prepare_batch_is_featurize_plus_meta_normalization():
    spec = model_class("glam").input_spec
    meta = CheckpointMeta.for_model("glam", list("abcd"), spec)
    segs = torch.randn(3, 32000) * 0.1
    raw = fz.featurize(meta.feature, segs, meta.sample_rate)
    assert raw.shape[:2] == (3, 1)
    torch.testing.assert_close(fz.prepare_batch(meta, segs), raw)
    m = fz.RunningMoments()
    m.update(raw)
    meta.normalization = json.loads(json.dumps(m.result()))  # as read back from config.json
    out = fz.prepare_batch(meta, segs)
    torch.testing.assert_close(out, fz.apply_normalization(raw, meta.normalization))
    assert abs(float(out.mean())) < 1e-3


def test_segment_for_model_uses_the_spec():
    meta = CheckpointMeta.for_model("glam", list("abcd"), model_class("glam").input_spec)
    segs = fz.segment_for_model(meta, torch.randn(16000 * 3))
    assert segs.shape == (4, 32000)  # 2 s windows, 0.4 s hop over 3 s
    assert meta.input_spec.aggregation == "mean" and meta.sample_rate == 16000
    assert meta.feature.config["n_mfcc"] == 26 and meta.feature.config["n_fft"] == 2048
