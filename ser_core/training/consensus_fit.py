"""Fitting the consensus on held-out predictions: member weights and the "not sure" threshold.

The fitted consensus is a weighted product of the members' calibrated posteriors::

    p(c | clip) ∝ exp( Σ_m w_m · log p_m(c | clip) ),   w_m >= 0

i.e. a logistic model over the members' calibrated log-probabilities with one non-negative
weight per member and no class bias (so it cannot learn one corpus' class prior, and never
silences a class the held-out corpus lacks). The weights minimise the held-out negative
log-likelihood (L-BFGS-B); they also set the consensus' own scale, so it is calibrated too.
The plain mean of posteriors stays available for comparison.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ser_core.training.calibration import softmax


def weighted_logits(weights: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """``(n, K)`` consensus logits from member log-probabilities ``(n, M, K)``."""
    return np.einsum("m,nmk->nk", np.asarray(weights, dtype=np.float64), logp)


def fit_weights(logp: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Non-negative member weights ``(M,)`` minimising held-out NLL (+ a small L2 term)."""
    from scipy.optimize import minimize

    logp = np.asarray(logp, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n, m, _ = logp.shape
    rows = np.arange(n)

    def loss(w):
        z = weighted_logits(w, logp)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        p = np.exp(z - lse[:, None])
        value = -(z[rows, y] - lse).mean() + l2 * (w ** 2).sum()
        onehot = np.zeros_like(p)
        onehot[rows, y] = 1.0
        grad = np.einsum("nk,nmk->m", p - onehot, logp) / n + 2 * l2 * w
        return value, grad

    res = minimize(loss, np.full(m, 1.0 / m), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * m)
    return res.x


def mean_probs(probs: np.ndarray) -> np.ndarray:
    """The plain consensus: mean of member posteriors ``(n, M, K) -> (n, K)``."""
    return np.asarray(probs, dtype=np.float64).mean(axis=1)


def stacking_entry(names: Sequence[str], labels: Sequence[str], weights: np.ndarray) -> dict:
    """``consensus.json``'s ``stacking`` block for :class:`ser_core.consensus.ConsensusSettings`:
    the weights written as a (classes, members x classes) coefficient matrix."""
    k = len(labels)
    coef = np.zeros((k, len(names) * k))
    for j, w in enumerate(weights):
        coef[np.arange(k), j * k + np.arange(k)] = w
    return {"members": [{"name": n, "labels": list(labels)} for n in names], "labels": list(labels),
            "weights": {n: float(w) for n, w in zip(names, weights)},
            "coef": coef.round(6).tolist(), "intercept": [0.0] * k}


def speaker_halves(speakers: Sequence[str]) -> np.ndarray:
    """A boolean mask: speakers alternately in half A (True) or B, by sorted id."""
    order = sorted(set(speakers))
    a = set(order[::2])
    return np.array([s in a for s in speakers])


def cross_fitted(logp: np.ndarray, y: np.ndarray, halves: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Consensus posteriors of each half from weights fitted on the other half."""
    out = np.zeros(logp.shape[::2])
    weights = []
    for part in (halves, ~halves):
        w = fit_weights(logp[~part], y[~part])
        out[part] = softmax(weighted_logits(w, logp[part]))
        weights.append(w)
    return out, weights
