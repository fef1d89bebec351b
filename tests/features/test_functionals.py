"""The utterance functionals (ser_core/features/functionals.py) on generated signals whose
pitch, voicing and level are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ser_core.errors import ConfigError
from ser_core.features.functionals import functional_names
from ser_core.features.pipeline import extract, feature_config

SR = 16000
KIND = "acoustic_functionals"


def _named(vec: torch.Tensor) -> dict[str, float]:
    return dict(zip(functional_names(), vec.tolist()))


def _harmonic(f0, seconds=1.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    f = np.broadcast_to(np.asarray(f0, dtype=float), t.shape)
    phase = 2 * np.pi * np.cumsum(f) / sr
    return torch.tensor(sum(np.sin(k * phase) / k for k in (1, 2, 3)), dtype=torch.float32)


def test_a_steady_tone_has_its_pitch_full_voicing_and_no_jitter():
    f = _named(extract(KIND, _harmonic(200.0), SR))
    assert len(f) == len(functional_names())
    assert f["f0_st_mean"] == pytest.approx(12 * math.log2(200 / 27.5), abs=0.3)
    assert f["f0_st_std"] < 0.2
    assert f["voiced_share"] > 0.95 and f["speech_share"] > 0.95
    assert f["jitter_rel"] < 0.01
    assert f["hnr_db_mean"] > 15


def test_a_rising_glide_has_a_positive_pitch_trend_and_range():
    f = _named(extract(KIND, _harmonic(np.linspace(150, 300, int(1.5 * SR))), SR))
    # one octave (12 semitones) in 1.5 s
    assert f["f0_st_trend_per_s"] == pytest.approx(8.0, rel=0.25)
    assert f["f0_st_range_p20_p80"] > 4


def test_noise_is_not_voiced_and_a_pause_is_counted():
    gen = torch.Generator().manual_seed(0)
    noise = _named(extract(KIND, torch.randn(SR, generator=gen), SR))
    assert noise["voiced_share"] < 0.2
    tone = _harmonic(200.0, 0.6)
    gap = torch.cat([tone, torch.zeros(int(0.5 * SR)), tone])
    f = _named(extract(KIND, gap, SR))
    assert f["speech_share"] < 0.8 and f["pauses_per_s"] > 0


def test_level_does_not_matter_and_batches_match_single_clips():
    a, b = _harmonic(180.0), _harmonic(240.0)
    one = extract(KIND, a, SR)
    assert torch.allclose(one, extract(KIND, 0.05 * a, SR), atol=1e-2, rtol=1e-2)
    both = extract(KIND, torch.stack([a, b]), SR)
    assert both.shape == (2, len(functional_names()))
    assert torch.allclose(both[0], one, atol=1e-2, rtol=1e-2) and torch.isfinite(both).all()


def test_impossible_parameters_get_a_sentence():
    with pytest.raises(ConfigError, match="f0_min"):
        feature_config(KIND, f0_min=400.0, f0_max=300.0)
