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


# -- rooms and microphones (preset "room") ----------------------------------------------

def test_synthetic_rir_decays_60_db_in_rt60():
    from ser_core.training.augment import synthetic_rir

    h = synthetic_rir(0.5, SR, torch.Generator().manual_seed(0), length_s=1.0)
    assert h[0] == h.abs().max() and h.norm() == pytest.approx(1.0)
    tail = h[1:].pow(2)
    def level(t):  # energy of a 50 ms window at time t, dB
        a = int(t * SR)
        return 10 * math.log10(float(tail[a:a + 800].mean()))
    assert level(0.05) - level(0.55) == pytest.approx(60.0, abs=4.0)


def test_reverb_keeps_level_and_smears_in_time():
    from ser_core.training.augment import reverberate, synthetic_rir

    x = torch.zeros(1, SR)
    x[0, 1000:1160] = torch.sin(torch.arange(160) / 3.0)   # a 10 ms burst
    y = reverberate(x, synthetic_rir(0.6, SR, torch.Generator().manual_seed(1)))
    assert y.shape == x.shape
    assert y.pow(2).mean() == pytest.approx(float(x.pow(2).mean()), rel=1e-3)
    assert y[0, 4000:].abs().max() > 1e-3 and x[0, 4000:].abs().max() == 0  # a tail after the burst


def test_band_limit_removes_energy_above_the_cutoff():
    from ser_core.training.augment import band_limit

    hi = sine(freq=6000.0, batch=1)
    mid = sine(freq=1000.0, batch=1)
    y_hi, y_mid = band_limit(hi, SR, 100.0, 3400.0), band_limit(mid, SR, 100.0, 3400.0)
    assert y_hi.pow(2).mean() < 0.05 * hi.pow(2).mean()
    assert y_mid.pow(2).mean() > 0.8 * mid.pow(2).mean()


def test_speed_perturbation_moves_pitch_and_keeps_length():
    from ser_core.training.augment import speed_perturb

    y = speed_perturb(sine(seconds=1.5, batch=1), SR, 1.1)
    assert y.shape == (1, int(1.5 * SR))
    assert peak_hz(y[0, :int(1.3 * SR)]) == pytest.approx(440 * 1.1, rel=0.02)


def test_room_preset_gain_range_and_determinism():
    cfg = parse_augment("room,p=1,ops=gain,k=1,gain=-12-6")
    assert cfg.gain_range_db == (-12.0, 6.0)
    x = sine(batch=64, seconds=0.25)
    y = augment_batch(x, SR, cfg, torch.Generator().manual_seed(0))
    gains = 20 * torch.log10(y.abs().amax(1) / x.abs().amax(1))
    assert float(gains.min()) >= -12.01 and float(gains.max()) <= 6.01 and float(gains.std()) > 3
    room = parse_augment("room")
    assert set(room.ops) == {"awgn", "reverb", "gain", "band"} and room.snr_range_db == (5.0, 30.0)
    a = augment_batch(x[:8], SR, room, torch.Generator().manual_seed(5))
    b = augment_batch(x[:8], SR, room, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x[:8].shape and torch.isfinite(a).all()
    for bad in ("room,rt60=0-0.5", "room,gain=6--6", "room,ops=echo"):
        with pytest.raises(ConfigError):
            parse_augment(bad)
