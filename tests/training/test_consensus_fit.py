"""The fitted consensus (member weights over calibrated log-probabilities), its JSON form, and
the "not sure" threshold as the inference service applies them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ser_core.consensus import ConsensusSettings, settle_consensus
from ser_core.inference import consensus_of
from ser_core.training.calibration import log_probs, softmax
from ser_core.training.consensus_fit import (cross_fitted, fit_weights, speaker_halves,
                                             stacking_entry, weighted_logits)

LABELS = ["neutral", "happy", "sad"]


def _members(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (n, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z)])
    good = softmax(z)                                 # calibrated and informative
    noise = softmax(rng.normal(0, 2, (n, 3)))         # unrelated to the labels
    return np.stack([good, noise], axis=1), y


def test_weights_favour_the_informative_member():
    probs, y = _members()
    w = fit_weights(log_probs(probs), y)
    assert w[0] == pytest.approx(1.0, abs=0.15) and w[1] < 0.1


def test_cross_fitting_scores_each_half_with_the_other_halfs_weights():
    probs, y = _members()
    speakers = [f"s{i % 20}" for i in range(len(y))]
    halves = speaker_halves(speakers)
    assert 0.3 < halves.mean() < 0.7
    out, weights = cross_fitted(log_probs(probs), y, halves)
    assert out.shape == (len(y), 3) and np.allclose(out.sum(1), 1) and len(weights) == 2


def _pred(name, probs):
    return SimpleNamespace(name=name, labels=LABELS, probs=list(probs),
                           top=LABELS[int(np.argmax(probs))])


def test_settings_reproduce_the_fitted_consensus_and_flag_low_confidence():
    w = np.array([0.8, 0.3])
    settings = ConsensusSettings(threshold=0.6, method="stacked",
                                 stacking=stacking_entry(["a", "b"], LABELS, w))
    pa, pb = [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]
    preds = [_pred("a", pa), _pred("b", pb)]
    cons = settle_consensus(consensus_of(preds), preds, settings)
    expect = softmax(weighted_logits(w, log_probs(np.array([[pa, pb]]))))[0]
    assert cons.method == "stacked" and np.allclose(cons.probs, expect, atol=1e-6)
    assert cons.mean_probs == pytest.approx([0.35, 0.25, 0.4])
    assert max(expect) < 0.6 and cons.uncertain is True and cons.threshold == 0.6
    # a member missing: the plain mean, still with the threshold
    only = settle_consensus(consensus_of(preds[:1]), preds[:1], settings)
    assert only.method == "mean" and only.probs == pytest.approx(pa) and only.uncertain is True
    sure = settle_consensus(consensus_of([_pred("a", [0.9, 0.05, 0.05])]), [], settings)
    assert sure.uncertain is False
