"""Metrics agree with scikit-learn on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             recall_score)

from ser_core.training.metrics import classification_metrics, format_summary, summarize_folds


def test_known_values_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 2, 1, 1, 2, 0]
    m = classification_metrics(y_true, y_pred, 3, ["a", "b", "c"])
    assert m["wa"] == pytest.approx(5 / 8)
    assert m["ua"] == pytest.approx((2 / 4 + 2 / 2 + 1 / 2) / 3)
    assert m["per_class_recall"] == pytest.approx([0.5, 1.0, 0.5])
    assert m["confusion_counts"] == [[2, 1, 1], [0, 2, 0], [1, 0, 1]]
    assert m["confusion"][0] == pytest.approx([0.5, 0.25, 0.25])
    assert m["n"] == 8 and m["labels"] == ["a", "b", "c"]


@pytest.mark.parametrize("seed", range(5))
def test_random_inputs_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = 5
    y_true = rng.integers(0, k, 200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, k, 200))
    m = classification_metrics(y_true, y_pred, k)
    assert m["wa"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["ua"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["ua"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    ref = confusion_matrix(y_true, y_pred, labels=range(k), normalize="true")
    np.testing.assert_allclose(m["confusion"], ref)
    np.testing.assert_array_equal(m["confusion_counts"], confusion_matrix(y_true, y_pred, labels=range(k)))


def test_class_absent_from_truth():
    # class 2 never occurs in y_true but is predicted once: UA averages over present classes
    y_true = [0, 0, 1, 1]
    y_pred = [0, 2, 1, 1]
    m = classification_metrics(y_true, y_pred, 4)
    assert m["ua"] == pytest.approx(0.75)
    with pytest.warns(UserWarning):
        assert m["ua"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["per_class_recall"][2] is None and m["per_class_recall"][3] is None
    assert m["confusion"][3] == [0.0, 0.0, 0.0, 0.0]
    assert len(m["confusion"]) == 4


def test_empty_split_is_nan_not_crash():
    m = classification_metrics([], [], 3)
    assert m["n"] == 0 and math.isnan(m["ua"])


def test_summarize_folds_mean_std():
    f1 = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2)
    f2 = classification_metrics([0, 1], [1, 1], 2)
    s = summarize_folds([f1, f2])
    assert s["folds"] == 2
    assert s["wa"]["mean"] == pytest.approx(np.mean([0.75, 0.5]))
    assert s["wa"]["std"] == pytest.approx(np.std([0.75, 0.5]))
    assert s["ua"]["values"] == pytest.approx([f1["ua"], f2["ua"]])
    np.testing.assert_allclose(s["confusion"], (np.array(f1["confusion"]) + np.array(f2["confusion"])) / 2)
    assert s["confusion_counts"] == [[2, 1], [1, 2]]
    assert "WA 62.50 ± 12.50" in format_summary(s)
