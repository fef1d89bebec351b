"""``corpus_class_weights``: the balance shared by the trainer's corpus sampler and the
acoustic model's fit."""

from __future__ import annotations

import numpy as np
import pytest

from ser_core.training.optimization import corpus_class_weights


def test_each_class_and_each_corpus_within_a_class_weigh_the_same():
    # corpus a: 6 x class 0, 2 x class 1; corpus b: 1 x class 0 (class 1 absent)
    y = np.array([0] * 6 + [1] * 2 + [0])
    d = np.array(["a"] * 8 + ["b"])
    w = corpus_class_weights(y, d)
    assert w.mean() == pytest.approx(1.0)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())  # equal mass per class
    assert w[:6].sum() == pytest.approx(w[8])  # class 0: corpus a's six clips = corpus b's one
    np.testing.assert_allclose(w[:6], w[0])
    # no corpora: inverse class frequency, as class_weight="balanced"
    np.testing.assert_allclose(corpus_class_weights(y), len(y) / (2 * np.bincount(y)[y]))
    with pytest.raises(ValueError, match="corpus labels"):
        corpus_class_weights(y, d[:-1])
