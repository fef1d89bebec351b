"""Calibration of posteriors: temperature scaling, expected calibration error, reliability.

* :func:`fit_temperature` – Guo et al. (2017): one scalar ``T > 0`` that minimises the
  negative log-likelihood of ``softmax(logits / T)`` on held-out predictions (speakers the
  model never trained on). A model's argmax is unchanged; only its confidence moves.
  Fitted by a bounded 1-D search over ``log T`` (scipy), which is exact for this convex-ish
  one-parameter problem and needs no learning rate.
* :func:`expected_calibration_error` – ECE with 15 equal-width confidence bins (Guo et al.):
  ``sum_b |B_b|/n · |accuracy(B_b) - confidence(B_b)|`` over the top-class confidence.
* :func:`reliability` – the bins themselves (for a reliability diagram).
* :func:`coverage_curve` – answering only when the top probability reaches a threshold:
  coverage and accuracy of the answered clips per threshold ("not sure" below it).

Log-probabilities are the input where posteriors are averaged (a model that pools segment
posteriors has no single logit vector per clip): ``log p`` is a logit vector up to a constant,
so ``softmax(log p / T)`` is the same temperature scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 15


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_probs(probs: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """``log`` of posteriors, floored (a zero probability is a logit of ``log(floor)``)."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), floor, 1.0))


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(np.asarray(logits, dtype=np.float64) / float(temperature))
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), np.asarray(y)], 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising held-out NLL of ``softmax(logits / T)``."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        raise ValueError("fit_temperature needs at least one held-out prediction")
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(lambda t: nll(logits, y, np.exp(t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


@dataclass
class Reliability:
    """Per confidence bin: lower/upper edge, count, mean confidence, accuracy."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        n = self.counts.sum()
        if n == 0:
            return float("nan")
        return float(np.sum(self.counts / n * np.abs(self.accuracy - self.confidence)))

    def to_dict(self) -> dict:
        return {"edges": self.edges.tolist(), "counts": self.counts.astype(int).tolist(),
                "confidence": self.confidence.tolist(), "accuracy": self.accuracy.tolist(),
                "ece": self.ece}


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Top-class confidence against accuracy in ``n_bins`` equal-width bins over (0, 1]."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    return answer_reliability(probs.max(axis=1), probs.argmax(axis=1) == y, n_bins)


def answer_reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """The same bins for any confidence in an answer (e.g. a modelled probability that it is
    right, which may be below 0.5) and whether each answer was ``correct``."""
    conf = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins).astype(np.float64)
    safe = np.maximum(counts, 1)
    mean_conf = np.bincount(which, conf, minlength=n_bins) / safe
    acc = np.bincount(which, correct, minlength=n_bins) / safe
    return Reliability(edges, counts, mean_conf, acc)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    return reliability(probs, y, n_bins).ece


def ece_noise_floor(probs: np.ndarray, n_bins: int = N_BINS, draws: int = 200, seed: int = 0) -> float:
    """The ECE a *perfectly calibrated* forecaster would show on these clips by chance: the mean
    ECE over ``draws`` label sets drawn from ``probs`` themselves. An ECE near it is as
    calibrated as the clip count can tell (a few hundred clips in 15 bins: several points)."""
    probs = np.asarray(probs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    out = []
    for _ in range(draws):
        y = np.minimum((rng.random((len(probs), 1)) > cdf).sum(axis=1), probs.shape[1] - 1)
        out.append(expected_calibration_error(probs, y, n_bins))
    return float(np.mean(out))


def coverage_curve(probs: np.ndarray, y: np.ndarray, thresholds=None) -> list[dict]:
    """For each threshold on the top probability: share of clips answered (coverage), the
    accuracy and UA of the answered ones, next to the accuracy of all clips."""
    from sklearn.metrics import recall_score

    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    thresholds = np.round(np.arange(0.0, 0.96, 0.05), 2) if thresholds is None else thresholds
    out = []
    for t in thresholds:
        keep = conf >= t
        n = int(keep.sum())
        acc = float((pred[keep] == y[keep]).mean()) if n else float("nan")
        ua = float(recall_score(y[keep], pred[keep], labels=sorted(set(y[keep].tolist())),
                                average="macro", zero_division=0)) if n else float("nan")
        out.append({"threshold": float(t), "coverage": n / max(len(y), 1), "accuracy": acc,
                    "ua": ua, "answered": n})
    return out


def choose_threshold(curve: list[dict], gain: float = 0.10, min_coverage: float = 0.5) -> dict:
    """The lowest threshold whose answered clips are at least ``gain`` more accurate than all
    clips while answering at least ``min_coverage`` of them; else the one with the largest
    gain among those answering ``min_coverage`` (an honest fallback, reported as such)."""
    base = curve[0]["accuracy"]
    ok = [c for c in curve if c["coverage"] >= min_coverage]
    hit = [c for c in ok if c["accuracy"] - base >= gain]
    if hit:
        return {**hit[0], "base_accuracy": base, "rule": f"lowest threshold with >= {gain:.0%} "
                f"accuracy gain at >= {min_coverage:.0%} coverage"}
    best = max(ok, key=lambda c: c["accuracy"]) if ok else curve[0]
    return {**best, "base_accuracy": base, "rule": f"no threshold reached {gain:.0%} gain at "
            f">= {min_coverage:.0%} coverage; the most accurate one that does"}


def weights_sha256(directory) -> str:
    """SHA-256 of a checkpoint's weights file: tells a retrained checkpoint from the one a
    temperature or a set of held-out predictions belongs to."""
    import hashlib
    from pathlib import Path

    from ser_core.checkpoint import WEIGHTS

    return hashlib.sha256((Path(directory) / WEIGHTS).read_bytes()).hexdigest()


def store_temperature(directory, temperature: float, calibration: dict) -> None:
    """Write ``temperature`` and its ``calibration`` record into a checkpoint's config.json
    (atomically; the weights are not touched). The record carries the weights' SHA-256 so a
    retrained checkpoint with a stale temperature can be told apart."""
    import json
    from pathlib import Path

    from ser_core.checkpoint import CONFIG, read_meta
    from ser_core.data.atomic import atomic_write_bytes

    directory = Path(directory)
    read_meta(directory)  # a valid checkpoint; edit its JSON as written (key order kept)
    meta = json.loads((directory / CONFIG).read_text())
    digest = weights_sha256(directory)
    meta["temperature"] = float(temperature)
    meta["calibration"] = {**calibration, "temperature": float(temperature), "weights_sha256": digest}
    atomic_write_bytes(directory / CONFIG, json.dumps(meta, indent=2).encode())
    (directory / CONFIG).chmod(0o644)
