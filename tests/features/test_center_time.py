"""Per-segment mean normalisation over time (``center_time``): the mean is over a segment's
real audio, its zero padding is left out, and training augments without filling that padding."""

from __future__ import annotations

import math

import pytest
import torch

from ser_core.features import pipeline
from ser_core.features.segments import center_time, keep_padding, segment_waveform, valid_samples

SR = 16000


def _voice(seconds: float, f0: float = 180.0, seed: int = 0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    g = torch.Generator().manual_seed(seed)
    return (sum(0.3 / k * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 6))
            + 0.01 * torch.randn(t.shape, generator=g)).float()


def test_valid_samples_is_the_length_before_the_trailing_zeros():
    x = torch.ones(3, 100)
    x[1, 60:] = 0
    x[2, :] = 0
    x[0, 10:20] = 0  # zeros inside the audio are audio
    assert valid_samples(x).tolist() == [100, 60, 1]


def test_center_time_leaves_out_the_padding_frames_and_shifts_every_frame():
    f = torch.zeros(2, 1, 2, 10)
    f[..., :5] = 4.0
    f[..., 5:] = -100.0  # what zero padding looks like in a log-mel
    out = center_time(f, torch.tensor([0.5, 1.0]))
    assert torch.allclose(out[0, ..., :5], torch.zeros(1, 2, 5))  # mean of the real frames
    assert torch.allclose(out[0, ..., 5:], torch.full((1, 2, 5), -104.0))
    assert torch.allclose(out[1].mean(-1), torch.zeros(1, 2))  # no padding: the plain mean
    # tensors without bins (waveforms, functionals) are left alone, dicts centred per tensor
    w = torch.randn(2, 1, 50)
    assert center_time(w, torch.ones(2)) is w
    d = center_time({"a": f, "v": torch.randn(2, 7)}, torch.ones(2))
    assert torch.allclose(d["a"].mean(-1), torch.zeros(2, 1, 2), atol=1e-5) and d["v"].dim() == 2


@pytest.mark.parametrize("kind", ["logmel_deltas", "mfcc", "mfcc_deltas", "mel_pair"])
def test_a_microphone_colouring_is_removed_by_center_time(kind):
    """A fixed filter on the input (a microphone, a room's colouring) shifts each log-mel bin
    by a constant: centred features barely move, uncentred ones move a lot."""
    x = _voice(2.0)
    tilt = torch.tensor([1.0, -0.6])  # a first-order pre-emphasis-like colouring
    coloured = torch.nn.functional.conv1d(x.view(1, 1, -1), tilt.flip(0).view(1, 1, -1),
                                          padding=1)[0, 0, :x.shape[0]]

    def feats(wave, center):
        out = pipeline.extract(kind, wave, SR, center_time=center)
        return torch.cat([v.flatten() for v in out.values()]) if isinstance(out, dict) else out

    plain = (feats(x, False) - feats(coloured, False)).abs().mean()
    centred = (feats(x, True) - feats(coloured, True)).abs().mean()
    assert centred < 0.25 * plain


def test_a_padded_segment_is_centred_like_its_audio_alone():
    """A 2 s clip in a 3 s segment (1 s of zero padding) gets the mean of its 2 s of audio,
    not one pulled down by the padding's floor values."""
    x = _voice(2.0, seed=1)
    padded = segment_waveform(x, SR, 3.0)
    assert padded.shape == (1, 3 * SR) and valid_samples(padded).item() == 2 * SR
    a = pipeline.extract("logmel", padded, SR, center_time=True)
    b = pipeline.extract("logmel", x.unsqueeze(0), SR, center_time=True)
    real = b.shape[-1] - 1  # the last frame straddles audio and padding
    torch.testing.assert_close(a[..., :real], b[..., :real], atol=0.05, rtol=0)


def test_keep_padding_zeros_what_augmentation_put_into_the_padding():
    clean = torch.zeros(2, 100)
    clean[0, :70] = 1.0
    clean[1] = 1.0
    noisy = clean + 0.1
    kept = keep_padding(noisy, clean)
    assert torch.equal(kept[0, 70:], torch.zeros(30)) and torch.allclose(kept[0, :70], noisy[0, :70])
    assert torch.equal(kept[1], noisy[1])


def test_center_time_is_a_feature_setting_that_round_trips():
    cfg = pipeline.feature_config("logmel", center_time=True)
    assert cfg.center_time and pipeline.feature_config("logmel", **cfg.to_dict()) == cfg
    assert not pipeline.feature_config("logmel").center_time  # off unless a recipe asks
