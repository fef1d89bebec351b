"""Calibration, the fitted consensus and "not sure" for voices the models never heard.

Measured across left-out corpora (issue 18's goals are stated under leave-one-corpus-out). The
input is one file per left-out corpus, written by ``python -m ser_core loco --predictions FILE``
with fold models that never heard that corpus: every clip's posterior from each member. Each
corpus is then scored with everything fitted on the *other* corpora's left-out predictions
(:func:`ser_core.training.heldout_calibration.cross_fit` with one group per corpus): each
member's temperature, the consensus weights, the consensus temperature and the "not sure"
threshold. So the fit learns how the recipe behaves on a corpus it never heard, and is scored on
a corpus that neither the models nor the fit ever saw, which is a new user's situation.

The fit on all corpora together (``fit_all``) is what a consensus of these recipes would ship.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_core.training import calibration as cal
from ser_core.training import consensus_fit as cf
from ser_core.training import heldout_calibration as hc


@dataclass
class LocoPredictions:
    """Every left-out clip of every corpus: ``logp`` ``(n, M, K)`` member log-posteriors as the
    inference service serves them (a member's stored temperature already applied), true class
    ``y``, and the clip's left-out ``corpus``."""
    labels: list[str]
    members: list[str]
    logp: np.ndarray
    y: np.ndarray
    corpus: np.ndarray


def load(paths: Sequence[str | Path]) -> LocoPredictions:
    """Read ``loco --predictions`` files (one per left-out corpus; same labels and members)."""
    labels: list[str] | None = None
    members: list[str] | None = None
    logp, y, corpus = [], [], []
    seen: set[str] = set()
    for path in paths:
        body = json.loads(Path(path).read_text())
        if body["corpus"] in seen:
            raise ValueError(f"{path}: corpus {body['corpus']} is given twice")
        seen.add(body["corpus"])
        names = sorted(body["trained_on"])
        if labels is None:
            labels, members = list(body["labels"]), names
        if list(body["labels"]) != labels or names != members:
            raise ValueError(f"{path}: its labels or members differ from the first file's "
                             f"({body['labels']} / {names} against {labels} / {members})")
        for row in body["rows"]:
            logp.append(cal.log_probs(np.array([row["models"][m] for m in members])))
            y.append(labels.index(row["true"]))
            corpus.append(body["corpus"])
    if labels is None or len(seen) < 2:
        raise ValueError("give the predictions of at least two left-out corpora")
    return LocoPredictions(labels, members, np.stack(logp), np.array(y), np.array(corpus))


def _by_corpus(probs: np.ndarray, pred: LocoPredictions) -> dict:
    """Scores of ``probs`` on each left-out corpus, their unweighted mean, and all clips pooled."""
    out = {c: {**hc.scores(probs[pred.corpus == c], pred.y[pred.corpus == c], pred.labels),
               "ece_floor": cal.ece_noise_floor(probs[pred.corpus == c])}
           for c in sorted(set(pred.corpus.tolist()))}
    keys = ("ua", "macro_f1", "ece", "ece_floor", "top_share_pred")
    out["mean"] = {k: float(np.mean([out[c][k] for c in list(out)])) for k in keys}
    out["pooled"] = {**hc.scores(probs, pred.y, pred.labels), "ece_floor": cal.ece_noise_floor(probs)}
    return out


def measure(pred: LocoPredictions) -> dict:
    """Every member and consensus variant, each corpus scored with fits on the other corpora."""
    m = len(pred.members)
    cv = hc.cross_fit(pred.logp, pred.y, pred.corpus, [None] * m)
    raw = cal.softmax(pred.logp)
    corpora = sorted(set(pred.corpus.tolist()))
    members = {name: {"served": _by_corpus(raw[:, j], pred),
                      "calibrated": _by_corpus(cv["members"][:, j], pred)}
               for j, name in enumerate(pred.members)}
    consensus = {"mean_served": _by_corpus(cf.mean_probs(raw), pred),
                 "mean_calibrated": _by_corpus(cv["mean"], pred),
                 "mean_calibrated_sharpened": _by_corpus(cv["mean_sharpened"], pred),
                 "fitted": _by_corpus(cv["stacked"], pred),
                 **{k: _by_corpus(v, pred) for k, v in pooling_variants(pred, cv).items()}}
    best = max(pred.members, key=lambda n: members[n]["calibrated"]["mean"]["ua"])
    # the same rule as the shipped consensus: the fitted weights only if they beat both
    fitted_ua = consensus["fitted"]["mean"]["ua"]
    method = ("stacked" if fitted_ua > max(consensus["mean_calibrated"]["mean"]["ua"],
                                           members[best]["calibrated"]["mean"]["ua"]) else "mean")
    shown = cv["stacked"] if method == "stacked" else cv["mean_sharpened"]
    per_fit = [{"scored": c,
                "temperatures": dict(zip(pred.members, map(float, t))),
                "weights": dict(zip(pred.members, map(float, w))),
                "mean_temperature": float(tc)}
               for c, t, w, tc in zip(corpora, cv["temperatures"], cv["weights"], cv["mean_temperatures"])]
    return {"clips": int(len(pred.y)), "corpora": corpora, "members": list(pred.members),
            "labels": list(pred.labels), "member_scores": members, "consensus": consensus,
            "best_single": {"model": best, **members[best]["calibrated"]["mean"]},
            "method": method, "fits": per_fit,
            "threshold_cross_fitted": hc.threshold_cross_fit(shown, pred.y, pred.corpus),
            "reliability_shown": cal.reliability(shown, pred.y).to_dict(),
            "confidence_signals": confidence_signals(pred),
            "fit_all": fit_all(pred, method)}


def pooling_variants(pred: LocoPredictions, cv: dict) -> dict[str, np.ndarray]:
    """Two more ways to pool the calibrated members, cross-fitted like the others (each corpus
    scored with the members' temperatures of :func:`~ser_core.training.heldout_calibration.cross_fit`
    ``cv``, fitted on the other corpora), to tell whether the fitted weights lose because of
    the weights or of the pooling: ``geometric`` (the fitted weights' form with every weight
    equal: the calibrated members' mean log-probability, with one fitted temperature) and
    ``linear_fitted`` (a mixture of the calibrated posteriors with weights on the simplex
    fitted for NLL, then one fitted temperature)."""
    from scipy.optimize import minimize

    def simplex(a):
        w = np.exp(a - a.max())
        return w / w.sum()

    geo = np.zeros(pred.logp.shape[::2])
    lin = np.zeros_like(geo)
    for part, t in zip(hc.parts(pred.corpus), cv["temperatures"]):
        fit, y = ~part, pred.y[~part]
        pf = cal.softmax(pred.logp[fit] / t[None, :, None])
        pp = cv["members"][part]
        tg = cal.fit_temperature(cal.log_probs(pf).mean(1), y)
        geo[part] = cal.softmax(cal.log_probs(pp).mean(1) / tg)
        rows = np.arange(len(y))

        def nll(a):
            return -np.log(np.maximum(np.einsum("m,nmk->nk", simplex(a), pf)[rows, y], 1e-12)).mean()

        w = simplex(minimize(nll, np.zeros(pf.shape[1]), method="Nelder-Mead").x)
        tl = cal.fit_temperature(cal.log_probs(np.einsum("m,nmk->nk", w, pf)), y)
        lin[part] = cal.softmax(cal.log_probs(np.einsum("m,nmk->nk", w, pp)) / tl)
    return {"geometric": geo, "linear_fitted": lin}


def confidence_signals(pred: LocoPredictions) -> dict:
    """Can any signal of the plain mean tell a right answer from a wrong one on a corpus it
    never saw? Per left-out corpus: each signal's mean, and the ECE of a logistic model of
    "the mean's answer is right" from the log top probability, the members' agreement with
    that answer and the entropy, fitted on the other corpora (the top-label ECE: only the
    answer's confidence is modelled)."""
    from sklearn.linear_model import LogisticRegression

    raw = cal.softmax(pred.logp)
    mean = cf.mean_probs(raw)
    top = mean.argmax(1)
    conf = mean.max(1)
    agree = (raw.argmax(2) == top[:, None]).mean(1)
    entropy = -(mean * np.log(np.maximum(mean, 1e-12))).sum(1)
    right = (top == pred.y).astype(int)
    x = np.c_[np.log(conf), agree, entropy]
    out = {}
    for c in sorted(set(pred.corpus.tolist())):
        part = pred.corpus == c
        p = LogisticRegression().fit(x[~part], right[~part]).predict_proba(x[part])[:, 1]
        out[c] = {"accuracy": float(right[part].mean()), "top_probability": float(conf[part].mean()),
                  "agreement": float(agree[part].mean()), "entropy": float(entropy[part].mean()),
                  "ece_modelled": cal.answer_reliability(p, right[part]).ece}
    return out


def fit_all(pred: LocoPredictions, method: str) -> dict:
    """Temperatures, weights, consensus temperature and threshold fitted on every corpus."""
    t = np.array([cal.fit_temperature(pred.logp[:, j], pred.y) for j in range(len(pred.members))])
    calp = cal.softmax(pred.logp / t[None, :, None])
    w = cf.fit_weights(cal.log_probs(calp), pred.y)
    tc = hc.mean_temperature(cf.mean_probs(calp), pred.y)
    shown = (cal.softmax(cf.weighted_logits(w, cal.log_probs(calp))) if method == "stacked"
             else cal.softmax(cal.log_probs(cf.mean_probs(calp)) / tc))
    choice = cal.choose_threshold(cal.coverage_curve(shown, pred.y), hc.GAIN, hc.MIN_COVERAGE)
    return {"temperatures": dict(zip(pred.members, map(float, t))),
            "weights": dict(zip(pred.members, map(float, w))), "mean_temperature": float(tc),
            "threshold": choice["threshold"], "threshold_choice": choice}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_table(result: dict) -> str:
    """Per left-out corpus UA / ECE / top-class share of each member and consensus variant."""
    corpora = result["corpora"]
    head = ("| | " + " | ".join(f"left-out {c}: UA / ECE / top share" for c in corpora)
            + " | mean over corpora: UA / ECE | all clips pooled: ECE |")
    lines = [head, "|" + "---|" * (len(corpora) + 3)]

    def row(name: str, scores: dict) -> str:
        cells = [f"{_pct(scores[c]['ua'])} / {_pct(scores[c]['ece'])} / {_pct(scores[c]['top_share_pred'])} %"
                 for c in corpora]
        return (f"| {name} | " + " | ".join(cells)
                + f" | {_pct(scores['mean']['ua'])} / {_pct(scores['mean']['ece'])} | {_pct(scores['pooled']['ece'])} |")

    for name, s in result["member_scores"].items():
        lines.append(row(f"`{name}` as served", s["served"]))
        lines.append(row(f"`{name}` calibrated (cross-fitted)", s["calibrated"]))
    labels = {"mean_served": "consensus: plain mean as served",
              "mean_calibrated": "consensus: mean of calibrated members",
              "mean_calibrated_sharpened": "consensus: that mean with the consensus temperature",
              "fitted": "consensus: fitted weights",
              "geometric": "consensus: equal weights in the fitted form (geometric mean, one temperature)",
              "linear_fitted": "consensus: fitted mixture weights (linear pool, one temperature)"}
    for key, name in labels.items():
        if key in result["consensus"]:  # files written before a variant was added lack it
            lines.append(row(name, result["consensus"][key]))
    floor = result["consensus"]["mean_calibrated_sharpened"]
    lines.append("| ECE a perfectly calibrated consensus would show on these clips (noise floor) | "
                 + " | ".join(f"{_pct(floor[c]['ece_floor'])} %" for c in corpora)
                 + f" | {_pct(floor['mean']['ece_floor'])} | {_pct(floor['pooled']['ece_floor'])} |")
    return "\n".join(lines)
