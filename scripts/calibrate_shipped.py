"""Calibrate the shipped checkpoints and fit the consensus on held-out speakers.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/calibrate_shipped.py [--write]

Reads ``runs/heldout_predictions.json`` (``scripts/heldout_predictions.py``: each deep
checkpoint's uncalibrated posteriors on its own fold's validation + test speakers, and on
CREMA-D, which none of them trained on) and the acoustic model's cached functionals.

1. Per deep checkpoint: a temperature fitted on its held-out speakers; ECE (15 bins) before
   and after, on those speakers (where it was fitted) and on CREMA-D (out of sample).
   ``acoustic_stats`` keeps the temperature its ``fit-acoustic`` run fitted on 5-fold
   held-out speakers; on CREMA-D it is represented by its leave-one-corpus-out fit (trained
   without CREMA-D), so every member of the consensus below has never heard CREMA-D.
2. The consensus on CREMA-D: plain mean (uncalibrated and calibrated members) and the fitted
   consensus (member weights), both measured by cross-fitting over two halves of the
   speakers (fit on one half, score the other), against the best single member. The fitted
   one becomes the shown consensus (``method``) only if it beats both.
3. "Not sure": the coverage/accuracy curve of the shown consensus; a threshold is chosen on
   one half of the speakers and scored on the other (and vice versa).

``--write`` stores the temperatures in the checkpoints' config.json and writes
``checkpoints/consensus.json`` (weights and threshold refitted on all CREMA-D held-out clips).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ser_core.training import calibration as cal  # noqa: E402
from ser_core.training import consensus_fit as cf  # noqa: E402
from ser_core.training.metrics import classification_metrics  # noqa: E402

GAIN, MIN_COVERAGE = 0.10, 0.5


def scores(probs, y, labels) -> dict:
    pred = probs.argmax(1)
    m = classification_metrics(y, pred, len(labels), labels)
    top = np.bincount(pred, minlength=len(labels)).max() / max(len(y), 1)
    return {"ua": m["ua"], "wa": m["wa"], "macro_f1": m["macro_f1"], "n": m["n"],
            "ece": cal.expected_calibration_error(probs, y), "top_share_pred": float(top)}


def acoustic_cremad_probs(uids, labels, data_root):
    """acoustic_stats' leave-one-corpus-out (CREMA-D left out) posteriors on ``uids``."""
    from ser_core.checkpoint import read_meta
    from ser_core.data import load_labeled
    from ser_core.training.acoustic_fit import fit_head
    from ser_core.training.functional_data import functionals_of

    meta = read_meta("checkpoints/acoustic_stats").to_dict()
    names = ["ravdess", "emodb", "emovo", "cremad"]
    data = load_labeled(names, [str(Path(data_root) / n) for n in names], "ekman7", check_audio=False)
    table = functionals_of(data.utterances, data.classes)
    assert list(table.classes) == list(labels)
    train = table.corpora != "cremad"
    head = fit_head(table.X[train], table.y[train], len(labels), meta["recipe"]["classifier"],
                    meta["recipe"]["C"])
    index = {u.uid: i for i, u in enumerate(table.utterances)}
    rows = [index[u] for u in uids]
    return cal.softmax(head.logits(table.X[rows]) / meta["temperature"]), meta["temperature"]


def threshold_cross_fit(probs, y, halves) -> dict:
    """Threshold chosen on one half of the speakers, scored on the other, both ways."""
    out = []
    for part in (halves, ~halves):
        pick = cal.choose_threshold(cal.coverage_curve(probs[~part], y[~part]), GAIN, MIN_COVERAGE)
        keep = probs[part].max(1) >= pick["threshold"]
        acc_all = float((probs[part].argmax(1) == y[part]).mean())
        acc_kept = float((probs[part][keep].argmax(1) == y[part][keep]).mean()) if keep.any() else float("nan")
        out.append({"threshold": pick["threshold"], "coverage": float(keep.mean()),
                    "accuracy_answered": acc_kept, "accuracy_all": acc_all})
    return {"halves": out, **{k: float(np.mean([o[k] for o in out])) for k in out[0]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--predictions", default="runs/heldout_predictions.json")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--cremad-from", default="runs/cremad_balanced.json",
                    help="CREMA-D predictions to use instead of the main file's (written by "
                         "heldout_predictions.py --stratified --parts cremad); ignored if absent")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--out", default="runs/calibration.json")
    args = ap.parse_args()
    held = json.loads(Path(args.predictions).read_text())
    labels = held["labels"]
    index = {c: i for i, c in enumerate(labels)}
    deep = held["models"]
    if args.cremad_from and Path(args.cremad_from).is_file():
        other = json.loads(Path(args.cremad_from).read_text())["models"]
        for name in deep:
            deep[name]["cremad"] = other[name]["cremad"]
    common = set.intersection(*(set(d["cremad"]["uids"]) for d in deep.values()))
    some = next(iter(deep.values()))["cremad"]
    order = [i for i, u in enumerate(some["uids"]) if u in common]
    uids = [some["uids"][i] for i in order]
    y = np.array([index[some["labels"][i]] for i in order])
    speakers = [some["speakers"][i] for i in order]
    members, per_model, temps = {}, {}, {}
    for name, d in sorted(deep.items()):
        yh = np.array([index[l] for l in d["heldout"]["labels"]])
        lp = cal.log_probs(np.array(d["heldout"]["probs"]))
        t = cal.fit_temperature(lp, yh)
        pos = {u: i for i, u in enumerate(d["cremad"]["uids"])}
        raw = np.array([d["cremad"]["probs"][pos[u]] for u in uids])
        cal_p = cal.softmax(cal.log_probs(raw) / t)
        temps[name] = t
        members[name] = (raw, cal_p)
        per_model[name] = {"temperature": t, "heldout_utterances": len(yh),
                           "heldout": {"before": scores(cal.softmax(lp), yh, labels),
                                       "after": scores(cal.softmax(lp / t), yh, labels)},
                           "cremad": {"before": scores(raw, y, labels), "after": scores(cal_p, y, labels)},
                           "reliability_cremad": cal.reliability(cal_p, y).to_dict()}
    ac_p, ac_t = acoustic_cremad_probs(uids, labels, args.data)
    members["acoustic_stats"] = (ac_p, ac_p)
    per_model["acoustic_stats"] = {"temperature": ac_t, "cremad": {"after": scores(ac_p, y, labels)},
                                   "note": "leave-one-corpus-out fit (CREMA-D left out)",
                                   "reliability_cremad": cal.reliability(ac_p, y).to_dict()}
    names = sorted(members)
    raw = np.stack([members[n][0] for n in names], axis=1)
    calp = np.stack([members[n][1] for n in names], axis=1)
    halves = cf.speaker_halves(speakers)
    fitted, half_w = cf.cross_fitted(cal.log_probs(calp), y, halves)
    mean_cal = cf.mean_probs(calp)
    cons = {"mean_uncalibrated": scores(cf.mean_probs(raw), y, labels),
            "mean_calibrated": scores(mean_cal, y, labels),
            "fitted_cross_fitted": scores(fitted, y, labels),
            "best_single": max(({"model": n, **per_model[n]["cremad"]["after"]} for n in names),
                               key=lambda r: r["ua"])}
    # shown only when it beats both the plain mean and the best single member on held-out speakers
    method = "stacked" if cons["fitted_cross_fitted"]["ua"] > max(cons["mean_calibrated"]["ua"],
                                                                 cons["best_single"]["ua"]) else "mean"
    shown = fitted if method == "stacked" else mean_cal
    weights = cf.fit_weights(cal.log_probs(calp), y)
    final_curve = cal.coverage_curve(cf.softmax(cf.weighted_logits(weights, cal.log_probs(calp)))
                                     if method == "stacked" else mean_cal, y)
    choice = cal.choose_threshold(final_curve, GAIN, MIN_COVERAGE)
    measured = {
        "protocol": "CREMA-D odd actors, every 6th clip of each emotion by id (none of the members trained on "
                    "CREMA-D; acoustic_stats by its leave-one-corpus-out fit); fitted parts "
                    "cross-fitted over two halves of the speakers",
        "clips": len(y), "speakers": len(set(speakers)), "members": names,
        "per_model": per_model, "consensus": cons,
        "half_weights": [dict(zip(names, map(float, w))) for w in half_w],
        "reliability_consensus": cal.reliability(shown, y).to_dict(),
        "reliability_mean_uncalibrated": cal.reliability(cf.mean_probs(raw), y).to_dict(),
        "coverage_curve": cal.coverage_curve(shown, y),
        "threshold_cross_fitted": threshold_cross_fit(shown, y, halves),
    }
    body = {"method": method, "threshold": choice["threshold"], "threshold_choice": choice,
            "stacking": cf.stacking_entry(names, labels, weights), "measured": measured}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(body, indent=1))
    print_summary(body)
    if args.write:
        from ser_core.consensus import save_settings

        for name, t in temps.items():
            pm = per_model[name]
            cal.store_temperature(Path("checkpoints") / name, t, {
                "fitted_on": "the validation and test speakers of the checkpoint's fold "
                             f"({pm['heldout_utterances']} utterances)", "n_bins": 15,
                "ece_heldout_before": pm["heldout"]["before"]["ece"],
                "ece_heldout_after": pm["heldout"]["after"]["ece"],
                "ece_cremad_before": pm["cremad"]["before"]["ece"],
                "ece_cremad_after": pm["cremad"]["after"]["ece"]})
        save_settings("checkpoints", body)
    return 0


def print_summary(body: dict) -> None:
    m = body["measured"]
    print(f"{m['clips']} CREMA-D clips, {m['speakers']} speakers")
    for n, r in m["per_model"].items():
        c = r["cremad"]
        before = f"ECE {100 * c['before']['ece']:.1f} -> " if "before" in c else ""
        if "heldout" in r:
            h = r["heldout"]
            before = (f"held-out speakers UA {100 * h['after']['ua']:.1f} ECE {100 * h['before']['ece']:.1f}"
                      f" -> {100 * h['after']['ece']:.1f} %;  CREMA-D " + before)
        print(f"  {n:<26} T {r['temperature']:.2f}  CREMA-D UA {100 * c['after']['ua']:.1f}  "
              f"{before}{100 * c['after']['ece']:.1f} %  top share {100 * c['after']['top_share_pred']:.0f} %")
    for k, v in m["consensus"].items():
        print(f"  consensus {k:<22} UA {100 * v['ua']:.1f}  ECE {100 * v['ece']:.1f} %  "
              f"top share {100 * v['top_share_pred']:.0f} %" + (f"  ({v['model']})" if "model" in v else ""))
    th = m["threshold_cross_fitted"]
    print(f"  method {body['method']}; threshold {body['threshold']:.2f} (all clips); cross-fitted: "
          f"coverage {100 * th['coverage']:.0f} %, accuracy answered {100 * th['accuracy_answered']:.1f} % "
          f"vs all {100 * th['accuracy_all']:.1f} %")
    print("  weights: " + ", ".join(f"{k} {v:.2f}" for k, v in body["stacking"]["weights"].items()))


if __name__ == "__main__":
    raise SystemExit(main())
