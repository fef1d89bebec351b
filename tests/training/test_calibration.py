"""Temperature scaling, ECE and the coverage curve on synthetic posteriors of known calibration."""

from __future__ import annotations

import numpy as np
import pytest

from ser_core.training.calibration import (choose_threshold, coverage_curve, ece_noise_floor,
                                           expected_calibration_error, fit_temperature,
                                           reliability, softmax)


def _calibrated(n=20000, k=6, seed=0):
    """True logits and labels drawn from softmax(true logits): calibrated by construction."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, size=(n, k))
    p = softmax(z)
    y = np.array([rng.choice(k, p=row) for row in p])
    return z, y


@pytest.mark.parametrize("factor", [0.5, 3.0])
def test_fitted_temperature_recovers_a_known_scaling(factor):
    z, y = _calibrated()
    assert fit_temperature(z * factor, y) == pytest.approx(factor, rel=0.1)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_posteriors():
    z, y = _calibrated()
    assert expected_calibration_error(softmax(z), y) < 0.02
    over = expected_calibration_error(softmax(4 * z), y)
    assert over > 0.1
    t = fit_temperature(4 * z, y)
    assert expected_calibration_error(softmax(4 * z / t), y) < 0.02


def test_the_ece_noise_floor_shrinks_with_the_clip_count_and_matches_calibrated_draws():
    # a calibrated forecaster's ECE on n clips is not 0: the floor says how far from 0 chance takes it
    z, y = _calibrated(20000)
    small = ece_noise_floor(softmax(z[:300]), draws=100)
    large = ece_noise_floor(softmax(z), draws=20)
    assert large < 0.015 < 0.03 < small < 0.09
    observed = [expected_calibration_error(softmax(z[i:i + 300]), y[i:i + 300]) for i in range(0, 6000, 300)]
    assert abs(np.mean(observed) - small) < 0.015   # what calibrated clips really show
    assert ece_noise_floor(softmax(4 * z[:300]), draws=50) < expected_calibration_error(softmax(4 * z[:300]), y[:300])


def test_reliability_bins_count_every_prediction():
    z, y = _calibrated(2000)
    r = reliability(softmax(z), y)
    assert r.counts.sum() == 2000 and len(r.counts) == 15
    assert np.all((r.accuracy >= 0) & (r.accuracy <= 1))


def test_coverage_falls_and_accuracy_rises_with_the_threshold():
    z, y = _calibrated()
    curve = coverage_curve(softmax(z), y)
    cov = [c["coverage"] for c in curve]
    assert cov[0] == 1.0 and all(a >= b for a, b in zip(cov, cov[1:]))
    answered = [c for c in curve if c["answered"] > 200]
    assert answered[-1]["accuracy"] > answered[0]["accuracy"] + 0.2
    pick = choose_threshold(curve, gain=0.10, min_coverage=0.3)
    assert pick["accuracy"] - pick["base_accuracy"] >= 0.10 and pick["coverage"] >= 0.3
