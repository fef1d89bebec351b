"""Evaluation metrics of the seeds, computed with scikit-learn.

* ``wa`` – weighted accuracy = overall accuracy (seeds 001, 004);
* ``ua`` – unweighted average recall (UAR): the mean of per-class recalls over the classes
  that occur in ``y_true`` (identical to :func:`sklearn.metrics.balanced_accuracy_score`;
  seed 000's headline metric). A class absent from a fold's ground truth has no recall and is
  left out of the mean instead of counting as 0;
* ``weighted_f1`` – support-weighted F1 (seed 001's WF1); ``macro_f1`` – unweighted mean F1
  over the classes present in ``y_true`` or ``y_pred`` (seed 002);
* ``confusion`` – row-normalised confusion matrix over *all* ``num_classes`` labels (rows =
  true class, columns = predicted; a row of zeros for a class with no examples) and
  ``confusion_counts`` – the raw counts;
* ``per_class_recall`` – recall per label (``None`` where the class has no examples).

All values are fractions in [0, 1] (not percent).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

METRIC_KEYS = ("wa", "ua", "weighted_f1", "macro_f1")
METRIC_NAMES = {"wa": "WA", "ua": "UA", "weighted_f1": "WF1", "macro_f1": "MF1"}


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int,
                           labels: Sequence[str] | None = None) -> dict:
    """WA, UA, weighted/macro F1 and the confusion matrices for integer class ids."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D and of equal length")
    all_ids = list(range(int(num_classes)))
    if len(y_true) == 0:
        zero = [[0.0] * num_classes for _ in all_ids]
        return {"n": 0, "wa": float("nan"), "ua": float("nan"), "weighted_f1": float("nan"),
                "macro_f1": float("nan"), "confusion": zero,
                "confusion_counts": [[0] * num_classes for _ in all_ids],
                "per_class_recall": [None] * num_classes, "labels": list(labels or all_ids)}
    present = sorted(set(y_true.tolist()))
    counts = confusion_matrix(y_true, y_pred, labels=all_ids)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    recalls = [float(norm[i, i]) if rows[i, 0] > 0 else None for i in all_ids]
    return {
        "n": int(len(y_true)),
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "confusion": norm.tolist(),
        "confusion_counts": counts.astype(int).tolist(),
        "per_class_recall": recalls,
        "labels": list(labels) if labels is not None else all_ids,
    }


def summarize_folds(fold_metrics: Iterable[dict], keys: Sequence[str] = METRIC_KEYS) -> dict:
    """Mean and (population, ddof=0) standard deviation over folds for each metric.

    Returns ``{"wa": {"mean": .., "std": .., "values": [...]}, ..., "folds": n,
    "confusion": <mean of row-normalised matrices>, "confusion_counts": <summed counts>}``.
    Folds whose value is NaN (an empty test split) are left out of that metric.
    """
    folds = list(fold_metrics)
    out: dict = {"folds": len(folds)}
    for key in keys:
        vals = [float(m[key]) for m in folds if key in m and not math.isnan(float(m[key]))]
        out[key] = {"mean": float(np.mean(vals)) if vals else float("nan"),
                    "std": float(np.std(vals)) if vals else float("nan"),
                    "values": vals}
    mats = [np.asarray(m["confusion"], dtype=float) for m in folds if "confusion" in m]
    if mats:
        out["confusion"] = np.mean(mats, axis=0).tolist()
    counts = [np.asarray(m["confusion_counts"], dtype=np.int64) for m in folds
              if "confusion_counts" in m]
    if counts:
        total = np.sum(counts, axis=0)
        out["confusion_counts"] = total.tolist()
        rows = total.sum(axis=1, keepdims=True)
        out["confusion_pooled"] = np.divide(total, rows, out=np.zeros(total.shape, dtype=float),
                                            where=rows > 0).tolist()
    return out


def format_summary(summary: dict, keys: Sequence[str] = METRIC_KEYS) -> str:
    """``"WA 61.2 ± 3.1 | UA ..."`` in percent, for the terminal."""
    names = METRIC_NAMES
    parts = []
    for k in keys:
        if k in summary and isinstance(summary[k], dict):
            parts.append(f"{names.get(k, k)} {100 * summary[k]['mean']:.2f} ± "
                         f"{100 * summary[k]['std']:.2f}")
    return " | ".join(parts)
