"""Fit and evaluate the ``acoustic_stats`` model: scikit-learn on cached functionals.

The gradient trainer (segments, epochs, early stopping on a validation speaker) does not fit a
closed-form linear classifier on one vector per clip, so this module fits it directly:

* :func:`fit_head` – ``StandardScaler`` + ``LogisticRegression`` (multinomial) or
  ``LinearSVC`` (one-vs-rest), class-balanced (``balance="class"``) or balanced over classes
  and, within a class, over corpora (``balance="corpus"``), returned as plain arrays (mean, scale,
  weight, bias) that :meth:`AcousticStats.set_head` copies into the torch model;
* :func:`out_of_fold` – logits of every utterance from a model that never saw its speaker:
  speaker-independent k-fold (``speaker_kfold``) or leave-one-corpus-out (``cross_corpus``
  per corpus);
* :func:`protocol_metrics` – UA/WA/macro-F1 per fold and per corpus, top-class share, and
  expected calibration error before/after the temperature fitted on out-of-fold logits;
* :func:`reference_offsets` – "my voice": per speaker, the mean functionals of half of their
  neutral clips (the reference clips are never scored).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ser_core.training.calibration import expected_calibration_error, fit_temperature, softmax
from ser_core.training.functional_data import FunctionalTable
from ser_core.training.metrics import classification_metrics, summarize_folds
from ser_core.training.optimization import corpus_class_weights

CLASSIFIERS = ("logreg", "linear_svm")
#: ``class``: inverse class frequency (sklearn's ``class_weight="balanced"``); ``corpus``: every
#: class the same weight and, within a class, every corpus that has it the same share
#: (:func:`~ser_core.training.optimization.corpus_class_weights`).
BALANCES = ("class", "corpus")


@dataclass
class Head:
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray   # (classes, D), in standardised units
    bias: np.ndarray     # (classes,)

    def logits(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.weight.T + self.bias


def fit_head(X: np.ndarray, y: np.ndarray, num_classes: int, classifier: str = "logreg",
             C: float = 0.1, seed: int = 0, corpora: np.ndarray | None = None) -> Head:
    """Standardise, fit, and return the linear map over all ``num_classes`` (a class absent
    from ``y`` gets weight 0 and bias -30: never predicted). Class-balanced; with ``corpora``
    (each row's corpus) balanced over classes and, within a class, over corpora."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, not {classifier!r}")
    scaler = StandardScaler().fit(X)
    scale = np.where(scaler.scale_ > 1e-12, scaler.scale_, 1.0)
    Z = (X - scaler.mean_) / scale
    balanced = "balanced" if corpora is None else None
    if classifier == "logreg":
        clf = LogisticRegression(C=C, class_weight=balanced, max_iter=3000, random_state=seed)
    else:
        clf = LinearSVC(C=C, class_weight=balanced, max_iter=20000, random_state=seed)
    # one BLAS thread: lbfgs stops at its tolerance along a path that depends on the summation
    # order, so a refit at two threads moved logits by up to 0.05 (measured); at one thread a
    # refit reproduces the shipped weights to 1e-5 on any machine, and is faster on this size
    with threadpool_limits(limits=1):
        clf.fit(Z, y, sample_weight=None if corpora is None else corpus_class_weights(y, corpora))
    coef, icpt = np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    if coef.shape[0] == 1:  # two classes: sklearn keeps one row
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    weight = np.zeros((num_classes, X.shape[1]))
    bias = np.full(num_classes, -30.0)
    for row, k in enumerate(clf.classes_):
        weight[int(k)], bias[int(k)] = coef[row], icpt[row]
    return Head(scaler.mean_.copy(), scale, weight, bias)


def fit_rows(table: FunctionalTable, rows: np.ndarray, classifier: str, C: float,
             balance: str = "class", X: np.ndarray | None = None) -> Head:
    """:func:`fit_head` on ``rows`` (a mask or indices) of ``table`` (of ``X`` when given:
    the table's functionals shifted by a reference) with the recipe's balance."""
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {BALANCES}, not {balance!r}")
    X = table.X if X is None else X
    return fit_head(X[rows], table.y[rows], len(table.classes), classifier, C,
                    corpora=table.corpora[rows] if balance == "corpus" else None)


# -- protocols ------------------------------------------------------------------------------

def folds_of(table: FunctionalTable, protocol: str, k: int = 5, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``(fold name, test mask)`` per fold; the rest of the table trains that fold."""
    from ser_core.data.splits import speaker_kfold

    if protocol == "loco":
        corpora = table.corpora
        return [(c, corpora == c) for c in sorted(set(corpora.tolist()))]
    if protocol == "speaker-kfold":
        split = speaker_kfold(table.utterances, k=k, seed=seed)
        uids = np.array([u.uid for u in table.utterances])
        return [(f.name, np.isin(uids, list(f.test))) for f in split.folds]
    raise ValueError(f"unknown protocol {protocol!r} (loco or speaker-kfold)")


def out_of_fold(table: FunctionalTable, protocol: str, classifier: str, C: float,
                reference: np.ndarray | None = None, scored: np.ndarray | None = None,
                balance: str = "class"):
    """Out-of-fold logits ``(n, classes)`` and fold names ``(n,)``.

    ``reference``: per-utterance offsets (see :func:`reference_offsets`) subtracted from the
    functionals of training and test alike; ``scored``: which utterances may train and be
    tested (reference clips are neither)."""
    X = table.X if reference is None else table.X - reference
    use = np.ones(len(table.y), bool) if scored is None else scored
    logits = np.full((len(table.y), len(table.classes)), np.nan)
    fold_of = np.empty(len(table.y), dtype=object)
    for name, test in folds_of(table, protocol):
        train = ~test & use
        head = fit_rows(table, train, classifier, C, balance, X=X)
        sel = test & use
        logits[sel] = head.logits(X[sel])
        fold_of[sel] = name
    return logits, fold_of


def top_share(pred: np.ndarray, true: np.ndarray) -> dict:
    n = max(len(pred), 1)
    return {"top_share_pred": Counter(pred.tolist()).most_common(1)[0][1] / n if len(pred) else 0.0,
            "top_share_true": Counter(true.tolist()).most_common(1)[0][1] / n if len(true) else 0.0}


def protocol_metrics(table: FunctionalTable, logits: np.ndarray, fold_of: np.ndarray,
                     temperature: float | None = None) -> dict:
    """Metrics of out-of-fold logits: per fold, mean ± std, per corpus, spread, ECE."""
    have = ~np.isnan(logits).any(axis=1)
    labels = list(table.classes)
    pred = logits.argmax(axis=1)
    folds = {}
    for name in sorted({f for f in fold_of[have]}):
        m = (fold_of == name) & have
        folds[name] = {**classification_metrics(table.y[m], pred[m], len(labels), labels),
                       **top_share(pred[m], table.y[m])}
    summary = summarize_folds(folds.values())
    per_corpus = {}
    for c in sorted(set(table.corpora[have].tolist())):
        m = (table.corpora == c) & have
        cm = classification_metrics(table.y[m], pred[m], len(labels), labels)
        per_corpus[c] = {"ua": cm["ua"], "wa": cm["wa"], "macro_f1": cm["macro_f1"], "n": cm["n"],
                         **top_share(pred[m], table.y[m])}
    t = temperature if temperature is not None else fit_temperature(logits[have], table.y[have])
    return {
        "ua": summary["ua"]["mean"], "ua_std": summary["ua"]["std"],
        "wa": summary["wa"]["mean"], "macro_f1": summary["macro_f1"]["mean"],
        "folds": {k: {"ua": v["ua"], "wa": v["wa"], "macro_f1": v["macro_f1"], "n": v["n"],
                      "top_share_pred": v["top_share_pred"], "top_share_true": v["top_share_true"],
                      "confusion": v["confusion"]} for k, v in folds.items()},
        "per_corpus": per_corpus,
        "top_share_pred": float(np.mean([v["top_share_pred"] for v in folds.values()])),
        "top_share_true": float(np.mean([v["top_share_true"] for v in folds.values()])),
        "temperature": t,
        "ece": expected_calibration_error(softmax(logits[have]), table.y[have]),
        "ece_calibrated": expected_calibration_error(softmax(logits[have] / t), table.y[have]),
        "utterances": int(have.sum()),
    }


# -- "my voice" -----------------------------------------------------------------------------

def reference_offsets(table: FunctionalTable, neutral: str = "neutral") -> tuple[np.ndarray, np.ndarray]:
    """``(offsets (n, D), reference mask (n,))``: each utterance's speaker's mean functionals
    over every other neutral clip of that speaker (sorted by id: 1st, 3rd, ...), which form
    the reference and are never scored. A speaker with fewer than two neutral clips has no
    reference: offset NaN (callers leave such speakers out)."""
    spk = table.speakers
    is_neutral = np.array([u.label == neutral for u in table.utterances])
    offsets = np.full(table.X.shape, np.nan)
    ref_mask = np.zeros(len(spk), bool)
    for s in sorted(set(spk.tolist())):
        idx = np.flatnonzero((spk == s) & is_neutral)
        idx = idx[np.argsort([table.utterances[i].uid for i in idx])]
        if len(idx) < 2:
            continue
        ref = idx[::2]
        ref_mask[ref] = True
        offsets[spk == s] = table.X[ref].mean(axis=0)
    return offsets, ref_mask
