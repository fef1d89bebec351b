"""Augmentation ops: shapes, strength, determinism, presets."""

from __future__ import annotations

import math

import pytest
import torch

from ser_core.errors import ConfigError
from ser_core.training.augment import (AugmentConfig, add_noise_snr, augment_batch, parse_augment,
                                       pitch_shift, time_stretch)

SR = 16000


def sine(freq=440.0, seconds=1.0, batch=4):
    t = torch.arange(int(SR * seconds)) / SR
    return (0.3 * torch.sin(2 * math.pi * freq * t)).repeat(batch, 1)


def peak_hz(x):
    spec = torch.fft.rfft(x[2000:-2000]).abs()
    return float(spec.argmax()) * SR / (x.shape[-1] - 4000)


def test_awgn_hits_requested_snr():
    x = sine(batch=3, seconds=2.0)
    gen = torch.Generator().manual_seed(0)
    snr = torch.tensor([5.0, 15.0, 30.0])
    y = add_noise_snr(x, snr, gen)
    noise = y - x
    measured = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    assert measured.tolist() == pytest.approx(snr.tolist(), abs=0.3)


@pytest.mark.parametrize("n", [-2, -1, 1, 2])
def test_pitch_shift_moves_the_tone(n):
    y = pitch_shift(sine(seconds=1.5, batch=1), SR, n)
    assert y.shape == (1, int(1.5 * SR))
    assert peak_hz(y[0]) == pytest.approx(440 * 2 ** (n / 12), rel=0.02)


@pytest.mark.parametrize("rate", [0.75, 1.25])
def test_time_stretch_keeps_length_and_pitch(rate):
    x = sine(seconds=1.5, batch=2)
    y = time_stretch(x, rate)
    assert y.shape == x.shape
    assert peak_hz(y[0]) == pytest.approx(440, rel=0.02)


def test_augment_batch_probability_and_determinism():
    x = sine(batch=40, seconds=0.25)
    cfg = parse_augment("seed002,p=0.5")
    a = augment_batch(x, SR, cfg, torch.Generator().manual_seed(3))
    b = augment_batch(x, SR, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    changed = (a - x).abs().amax(dim=1) > 1e-6
    assert 8 < int(changed.sum()) < 32  # about half
    assert torch.equal(augment_batch(x, SR, parse_augment("none"), torch.Generator()), x)
    assert torch.equal(augment_batch(x, SR, AugmentConfig(p=0.0, ops=("awgn",)), torch.Generator()), x)


def test_presets_and_parse_errors():
    assert parse_augment("awgn").ops == ("awgn",) and parse_augment("awgn").p == pytest.approx(2 / 3)
    c = parse_augment("awgn,p=0.5,snr=10-25")
    assert c.p == 0.5 and c.snr_range_db == (10.0, 25.0)
    s = parse_augment("seed002")
    assert s.ops_per_example == 2 and s.semitones == (-2, -1, 1, 2)
    assert parse_augment("seed002,ops=pitch+noise,k=1").ops == ("pitch", "noise")
    for bad in ("loud", "awgn,p=2", "awgn,q=1", "awgn,snr=30-10", "seed002,k=5"):
        with pytest.raises(ConfigError):
            parse_augment(bad)
