"""Calibrating the shipped checkpoints and measuring their consensus on speakers none of them heard.

``scripts/calibrate_shipped.py`` runs this on the posteriors of ``scripts/heldout_predictions.py``.
Two modes, by what the members trained on (:func:`choose_mode`):

``cremad``
    no deep member trained on CREMA-D: everything is measured on CREMA-D, an unseen corpus;
    each deep member's temperature was fitted beforehand on its own fold's held-out speakers
    (so it is fixed here), and ``acoustic_stats`` (which trained on every corpus) is
    represented by a refit without CREMA-D.
``heldout``
    some or all deep members trained on CREMA-D (protocol ``final``): everything is measured on
    the held-back speakers that *none* of the members trained on (:func:`common_rows` of what
    ``heldout_predictions.py`` predicted for each), and ``acoustic_stats`` by a refit without
    those speakers. The deep members' stored temperatures are fitted on their held-back
    speakers, which include these, so to score them out of sample they are cross-fitted too.

:func:`cross_fit` is the one measuring step of both: over two halves of the speakers, fit on
one half (temperatures that are not fixed, then the consensus weights) and score the other.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.special import log_softmax

from ser_core.training import calibration as cal
from ser_core.training import consensus_fit as cf
from ser_core.training.acoustic_fit import Head, fit_rows
from ser_core.training.functional_data import FunctionalTable
from ser_core.training.metrics import classification_metrics

MODES = ("cremad", "heldout")
UNSEEN = "cremad"
GAIN, MIN_COVERAGE = 0.10, 0.5


def choose_mode(training_corpora: Mapping[str, Sequence[str]], requested: str = "auto") -> tuple[str, str]:
    """``(mode, why)`` from each deep member's training corpora (or ``requested``)."""
    heard = sorted(n for n, c in training_corpora.items() if UNSEEN in c)
    if requested == "cremad" and heard:
        raise ValueError(f"--mode cremad: {', '.join(heard)} trained on CREMA-D, so it is not an "
                         "unseen corpus for them; use --mode heldout.")
    if requested in MODES:
        return requested, f"--mode {requested} was given"
    if requested != "auto":
        raise ValueError(f"mode must be auto or one of {MODES}, not {requested!r}")
    if not heard:
        return "cremad", "no deep member trained on CREMA-D: it is an unseen corpus for all of them"
    if len(heard) == len(training_corpora):
        return "heldout", ("every deep member trained on CREMA-D: measured on the speakers all of "
                           "them held back from training")
    missed = sorted(set(training_corpora) - set(heard))
    return "heldout", (f"{', '.join(heard)} trained on CREMA-D and {', '.join(missed)} did not: "
                       "measured on the held-back speakers that none of the members trained on")


def common_rows(parts: Mapping[str, Mapping], labels: Sequence[str]) -> dict:
    """The utterances every member predicted in its part (``uids``/``speakers``/``labels``
    lists per member): ``uids``, ``y``, ``speakers`` in the first member's order, plus
    ``dropped_speakers``, the speakers some member has and another lacks (for held-out
    parts: a speaker not held back by every member)."""
    if not parts:
        raise ValueError("no members to calibrate")
    common = set.intersection(*(set(p["uids"]) for p in parts.values()))
    first = next(iter(parts.values()))
    order = [i for i, u in enumerate(first["uids"]) if u in common]
    if not order:
        raise ValueError("no utterance was held out by every member (were they trained on "
                         "different splits or seeds?)")
    index = {c: i for i, c in enumerate(labels)}
    speakers = [first["speakers"][i] for i in order]
    every = set().union(*(set(p["speakers"]) for p in parts.values()))
    return {"uids": [first["uids"][i] for i in order], "speakers": speakers,
            "y": np.array([index[first["labels"][i]] for i in order]),
            "dropped_speakers": sorted(every - set(speakers))}


def aligned_probs(part: Mapping, uids: Sequence[str]) -> np.ndarray:
    """A member's posteriors ``(n, K)`` in the order of ``uids``."""
    pos = {u: i for i, u in enumerate(part["uids"])}
    return np.array([part["probs"][pos[u]] for u in uids], dtype=np.float64)


def acoustic_refit(table: FunctionalTable, left_out: np.ndarray, recipe: Mapping) -> Head:
    """``acoustic_stats``' head refitted with its recipe on every row of ``table`` not in
    ``left_out`` (a boolean mask)."""
    keep = ~np.asarray(left_out, bool)
    if not keep.any():
        raise ValueError("the acoustic refit would have no training utterances")
    return fit_rows(table, keep, recipe["classifier"], recipe["C"], recipe.get("balance", "class"))


def acoustic_log_probs(table: FunctionalTable, uids: Sequence[str], left_out: np.ndarray,
                       recipe: Mapping) -> np.ndarray:
    """Uncalibrated log-posteriors ``(n, K)`` on ``uids`` of the refit without ``left_out``
    (exact: from its logits, not floored). Every scored utterance must be left out of it."""
    index = {u.uid: i for i, u in enumerate(table.utterances)}
    missing = [u for u in uids if u not in index]
    if missing:
        raise ValueError(f"{len(missing)} scored utterance(s) have no functionals, e.g. {missing[0]}")
    rows = np.array([index[u] for u in uids])
    if not np.asarray(left_out, bool)[rows].all():
        raise ValueError("a scored utterance would be in the acoustic refit's training data")
    head = acoustic_refit(table, left_out, recipe)
    return log_softmax(head.logits(table.X[rows]), axis=1)


def parts(groups: np.ndarray) -> list[np.ndarray]:
    """The scored parts of a cross-fit: a boolean mask is two halves (the True half first);
    any other array one part per distinct value (sorted), e.g. one per left-out corpus."""
    groups = np.asarray(groups)
    if groups.dtype == bool:
        return [groups, ~groups]
    return [groups == g for g in sorted(set(groups.tolist()))]


def cross_fit(logp: np.ndarray, y: np.ndarray, halves: np.ndarray,
              fixed_temperatures: Sequence[float | None]) -> dict:
    """Fit on one half of the speakers, score the other, both ways (or, with ``halves`` an
    array of group names, fit on every group but one and score that one, for each group).

    ``logp``: uncalibrated member log-posteriors ``(n, M, K)``; ``fixed_temperatures``: per member
    a temperature fitted elsewhere, or ``None`` to fit it on the fitting half. Returns the
    scored halves' calibrated ``members`` ``(n, M, K)``, plain ``mean`` and ``stacked``
    consensus ``(n, K)``, the ``mean_sharpened`` one (the mean with the consensus temperature
    of :func:`mean_temperature` fitted on the fitting half), and per half the fitted
    ``temperatures``, ``weights`` and ``mean_temperatures``."""
    members = np.zeros_like(logp)
    stacked = np.zeros(logp.shape[::2])
    sharpened = np.zeros(logp.shape[::2])
    temps, weights, mean_temps = [], [], []
    for part in parts(halves):
        fit = ~part
        t = np.array([cal.fit_temperature(logp[fit, m], y[fit]) if ft is None else float(ft)
                      for m, ft in enumerate(fixed_temperatures)])
        fit_members = cal.softmax(logp[fit] / t[None, :, None])
        w = cf.fit_weights(cal.log_probs(fit_members), y[fit])
        tc = mean_temperature(cf.mean_probs(fit_members), y[fit])
        members[part] = cal.softmax(logp[part] / t[None, :, None])
        stacked[part] = cal.softmax(cf.weighted_logits(w, cal.log_probs(members[part])))
        sharpened[part] = cal.softmax(cal.log_probs(cf.mean_probs(members[part])) / tc)
        temps.append(t)
        weights.append(w)
        mean_temps.append(tc)
    return {"members": members, "mean": cf.mean_probs(members), "stacked": stacked,
            "mean_sharpened": sharpened, "temperatures": temps, "weights": weights,
            "mean_temperatures": mean_temps}


def mean_temperature(mean: np.ndarray, y: np.ndarray) -> float:
    """The consensus temperature: the mean of calibrated members is under-confident (averaging
    spreads the mass of members that disagree), so the shown mean is ``softmax(log mean / T)``
    with ``T`` (usually < 1) minimising NLL on held-out speakers. Argmax is unchanged."""
    return cal.fit_temperature(cal.log_probs(mean), y)


def scores(probs: np.ndarray, y: np.ndarray, labels: Sequence[str]) -> dict:
    pred = probs.argmax(1)
    m = classification_metrics(y, pred, len(labels), list(labels))
    top = np.bincount(pred, minlength=len(labels)).max() / max(len(y), 1)
    return {"ua": m["ua"], "wa": m["wa"], "macro_f1": m["macro_f1"], "n": m["n"],
            "ece": cal.expected_calibration_error(probs, y), "top_share_pred": float(top)}


def threshold_cross_fit(probs: np.ndarray, y: np.ndarray, halves: np.ndarray) -> dict:
    """Threshold chosen on one half of the speakers, scored on the other, both ways (or on every
    group but one, scored on that one: see :func:`parts`)."""
    out = []
    for part in parts(halves):
        pick = cal.choose_threshold(cal.coverage_curve(probs[~part], y[~part]), GAIN, MIN_COVERAGE)
        keep = probs[part].max(1) >= pick["threshold"]
        acc_all = float((probs[part].argmax(1) == y[part]).mean())
        acc_kept = float((probs[part][keep].argmax(1) == y[part][keep]).mean()) if keep.any() else float("nan")
        out.append({"threshold": pick["threshold"], "coverage": float(keep.mean()),
                    "accuracy_answered": acc_kept, "accuracy_all": acc_all})
    return {"halves": out, **{k: float(np.mean([o[k] for o in out])) for k in out[0]}}


def consensus_settings(names: Sequence[str], labels: Sequence[str], logp: np.ndarray, y: np.ndarray,
                       speakers: Sequence[str], temperatures: Sequence[float],
                       fixed_temperatures: Sequence[float | None]) -> tuple[dict, dict]:
    """``(body of consensus.json without its protocol text, per-member scored results)``.

    ``logp``: uncalibrated member log-posteriors ``(n, M, K)``; ``temperatures``: each
    member's stored temperature (what the app applies); ``fixed_temperatures``: what
    :func:`cross_fit` may not refit (``None``: cross-fitted)."""
    halves = cf.speaker_halves(speakers)
    cv = cross_fit(logp, y, halves, fixed_temperatures)
    raw = cal.softmax(logp)
    calp = cal.softmax(logp / np.asarray(temperatures)[None, :, None])
    per_model = {n: {"scored": {"before": scores(raw[:, j], y, labels),
                                "after": scores(cv["members"][:, j], y, labels)},
                     "reliability": cal.reliability(cv["members"][:, j], y).to_dict()}
                 for j, n in enumerate(names)}
    cons = {"mean_uncalibrated": scores(cf.mean_probs(raw), y, labels),
            "mean_calibrated": scores(cv["mean"], y, labels),
            "mean_calibrated_sharpened": scores(cv["mean_sharpened"], y, labels),
            "fitted_cross_fitted": scores(cv["stacked"], y, labels),
            "best_single": max(({"model": n, **per_model[n]["scored"]["after"]} for n in names),
                               key=lambda r: r["ua"])}
    # shown only when it beats both the plain mean and the best single member on held-out speakers
    method = "stacked" if cons["fitted_cross_fitted"]["ua"] > max(cons["mean_calibrated"]["ua"],
                                                                 cons["best_single"]["ua"]) else "mean"
    shown_cv = cv["stacked"] if method == "stacked" else cv["mean_sharpened"]
    weights = cf.fit_weights(cal.log_probs(calp), y)
    mean_t = mean_temperature(cf.mean_probs(calp), y)
    shown_all = (cf.softmax(cf.weighted_logits(weights, cal.log_probs(calp))) if method == "stacked"
                 else cal.softmax(cal.log_probs(cf.mean_probs(calp)) / mean_t))
    choice = cal.choose_threshold(cal.coverage_curve(shown_all, y), GAIN, MIN_COVERAGE)
    measured = {
        "clips": len(y), "speakers": len(set(speakers)), "members": list(names),
        "per_model": per_model, "consensus": cons,
        "half_weights": [dict(zip(names, map(float, w))) for w in cv["weights"]],
        "half_temperatures": [dict(zip(names, map(float, t))) for t in cv["temperatures"]],
        "half_mean_temperatures": [float(t) for t in cv["mean_temperatures"]],
        "reliability_consensus": cal.reliability(shown_cv, y).to_dict(),
        "reliability_mean_uncalibrated": cal.reliability(cf.mean_probs(raw), y).to_dict(),
        "coverage_curve": cal.coverage_curve(shown_cv, y),
        "threshold_cross_fitted": threshold_cross_fit(shown_cv, y, halves),
    }
    body = {"method": method, "threshold": choice["threshold"], "threshold_choice": choice,
            "mean_temperature": mean_t if method == "mean" else None,
            "stacking": cf.stacking_entry(names, labels, weights), "measured": measured}
    return body, per_model
