"""Calibrate the shipped checkpoints and fit the consensus on held-out speakers.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/calibrate_shipped.py \
        [--checkpoints checkpoints] [--predictions runs/heldout_predictions.json] \
        [--mode auto|cremad|heldout] [--write]

Reads the deep checkpoints' uncalibrated posteriors (``scripts/heldout_predictions.py``) and
``acoustic_stats``' cached functionals. The mode (``ser_core/training/heldout_calibration.py``)
follows the checkpoints' ``training_corpora``:

* ``cremad`` (no deep member trained on CREMA-D): each deep checkpoint's temperature is fitted
  on its own fold's validation + test speakers; everything is measured on CREMA-D, with
  ``acoustic_stats`` represented by a refit without CREMA-D.
* ``heldout`` (every member trained on every corpus, protocol ``final``): everything is measured
  on the speakers *every* deep member held back (the intersection of their validation + test
  speakers), with ``acoustic_stats`` represented by a refit without those speakers; the deep
  temperatures are fitted on the same speakers.

In both, the consensus (plain mean of calibrated members against fitted weights) and the
"not sure" threshold are cross-fitted over two halves of the speakers (fit on one, score the
other; in ``heldout`` mode the deep temperatures too); the fitted consensus is shown
(``method``) only if it beats both the mean and the best single member.

``--write`` stores the temperatures in the checkpoints' config.json under ``--checkpoints`` and
writes ``consensus.json`` there (weights and threshold refitted on all scored clips).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ser_core.training import calibration as cal  # noqa: E402
from ser_core.training import heldout_calibration as hc  # noqa: E402

CORPORA = ["ravdess", "emodb", "emovo", "cremad"]


def acoustic_member(ckpt: Path, rows: dict, mode: str, data_root: str):
    """``acoustic_stats``' uncalibrated log-posteriors on the scored rows from a refit that leaves
    them out, its stored temperature, and what was left out (words)."""
    from ser_core.checkpoint import read_meta
    from ser_core.data import load_labeled
    from ser_core.training.functional_data import functionals_of

    meta = read_meta(ckpt / "acoustic_stats").to_dict()
    data = load_labeled(CORPORA, [str(Path(data_root) / n) for n in CORPORA], "ekman7", check_audio=False)
    table = functionals_of(data.utterances, data.classes)
    if mode == "cremad":
        left_out, what = table.corpora == "cremad", "CREMA-D"
    else:
        left_out = np.isin(table.speakers, sorted(set(rows["speakers"])))
        what = f"the {len(set(rows['speakers']))} scored speakers ({int(left_out.sum())} utterances)"
    logp = hc.acoustic_log_probs(table, rows["uids"], left_out, meta["recipe"])
    return logp, float(meta["temperature"]), what


def own_temperature(part: dict, labels: list[str]) -> tuple[float, dict]:
    """A deep member's temperature on its own held-out speakers, with ECE before/after there."""
    index = {c: i for i, c in enumerate(labels)}
    yh = np.array([index[lab] for lab in part["labels"]])
    lp = cal.log_probs(np.array(part["probs"]))
    t = cal.fit_temperature(lp, yh)
    return t, {"heldout_utterances": len(yh), "heldout_speakers": sorted(set(part["speakers"])),
               "heldout": {"before": hc.scores(cal.softmax(lp), yh, labels),
                           "after": hc.scores(cal.softmax(lp / t), yh, labels)}}


def protocol_text(mode: str, rows: dict, n_deep: int, acoustic_what: str, subset: str) -> str:
    spk = sorted(set(rows["speakers"]))
    cross = ("consensus weights and \"not sure\" threshold cross-fitted over two halves of the speakers "
             "(fitted on one, scored on the other)")
    if mode == "cremad":
        return (f"CREMA-D odd actors, {subset} (none of the deep members trained on CREMA-D; deep "
                "temperatures fitted on each checkpoint's own fold's validation + test speakers; "
                f"acoustic_stats by its refit without {acoustic_what}, stored temperature); {cross}")
    dropped = (f"; speakers held back by only some members left out: {', '.join(rows['dropped_speakers'])}"
               if rows["dropped_speakers"] else "; every member held back the same speakers")
    return (f"the {len(spk)} speakers none of the {n_deep} deep members trained on (of their "
            f"validation + test speakers: {', '.join(spk)}){dropped}; "
            f"acoustic_stats by its refit without {acoustic_what}, stored temperature; deep temperatures, "
            f"{cross}; stored temperatures, weights and threshold refitted on all of them")


def fitted_on_text(mode: str, pm: dict, protocol_name: str) -> str:
    spk = pm["heldout_speakers"]
    text = (f"held-back speakers it did not train on (its {protocol_name} fold's validation and test "
            f"speakers, and other members' it never heard; {len(spk)} speakers: {', '.join(spk)}; "
            f"{pm['heldout_utterances']} utterances)")
    if mode == "heldout":
        text += ("; the consensus was measured on the speakers none of the members trained on, with this "
                 "temperature cross-fitted over two halves of them (ece_scored_after)")
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", default="checkpoints", help="the shipped checkpoints (read, and "
                    "written with --write)")
    ap.add_argument("--predictions", default="runs/heldout_predictions.json")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--mode", default="auto", choices=["auto", *hc.MODES])
    ap.add_argument("--cremad-from", default="runs/cremad_balanced.json",
                    help="cremad mode: CREMA-D predictions to use instead of the main file's (written "
                         "by heldout_predictions.py --stratified --parts cremad); ignored if absent")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--out", default="runs/calibration.json")
    args = ap.parse_args()
    from ser_core.checkpoint import read_meta

    ckpt = Path(args.checkpoints)
    held = json.loads(Path(args.predictions).read_text())
    labels, deep = held["labels"], held["models"]
    metas = {n: read_meta(ckpt / n) for n in deep}
    stale = [n for n, d in deep.items() if d.get("weights_sha256") not in (None, cal.weights_sha256(ckpt / n))]
    if stale:
        raise SystemExit(f"{args.predictions} holds predictions of other weights than {ckpt} for "
                         f"{', '.join(stale)}: rerun heldout_predictions.py")
    mode, why = hc.choose_mode({n: m.training_corpora for n, m in metas.items()}, args.mode)
    print(f"mode {mode}: {why}")
    subset = held.get("cremad_subset", "a CREMA-D subset (its selection is not recorded)")
    if mode == "cremad" and args.cremad_from and Path(args.cremad_from).is_file():
        other = json.loads(Path(args.cremad_from).read_text())
        if set(deep) - set(other["models"]):
            raise SystemExit(f"{args.cremad_from} lacks {', '.join(sorted(set(deep) - set(other['models'])))}: "
                             "predictions of other checkpoints? pass --cremad-from ''")
        subset = other.get("cremad_subset", subset)
        for name in deep:
            deep[name]["cremad"] = other["models"][name]["cremad"]
    part = "cremad" if mode == "cremad" else "heldout"
    rows = hc.common_rows({n: d[part] for n, d in deep.items()}, labels)
    own = {n: own_temperature(d["heldout"], labels) for n, d in sorted(deep.items())}
    ac_logp, ac_t, ac_what = acoustic_member(ckpt, rows, mode, args.data)
    names = sorted([*deep, "acoustic_stats"])
    logp = np.stack([ac_logp if n == "acoustic_stats" else
                     cal.log_probs(hc.aligned_probs(deep[n][part], rows["uids"])) for n in names], axis=1)
    temps = [ac_t if n == "acoustic_stats" else own[n][0] for n in names]
    fixed = [t if n == "acoustic_stats" or mode == "cremad" else None for n, t in zip(names, temps)]
    body, per_model = hc.consensus_settings(names, labels, logp, rows["y"], rows["speakers"], temps, fixed)
    for n, t in zip(names, temps):
        extra = own[n][1] if n in own else {"note": f"refit without {ac_what}, stored temperature"}
        per_model[n] = {"temperature": t, **extra, **per_model[n]}
    body["measured"] = {"mode": mode, "mode_reason": why, "scored_set": part,
                        "protocol": protocol_text(mode, rows, len(deep), ac_what, subset), **body["measured"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(body, indent=1))
    print_summary(body)
    if args.write:
        write(ckpt, mode, body, metas)
    return 0


def write(ckpt: Path, mode: str, body: dict, metas: dict) -> None:
    from ser_core.consensus import save_settings

    for name, meta in metas.items():
        pm = body["measured"]["per_model"][name]
        cal.store_temperature(ckpt / name, pm["temperature"], {
            "fitted_on": fitted_on_text(mode, pm, (meta.protocol or {}).get("name", "training")),
            "n_bins": 15, "ece_heldout_before": pm["heldout"]["before"]["ece"],
            "ece_heldout_after": pm["heldout"]["after"]["ece"], "scored_on": mode,
            "ece_scored_before": pm["scored"]["before"]["ece"], "ece_scored_after": pm["scored"]["after"]["ece"]})
    save_settings(ckpt, body)
    print(f"wrote temperatures of {len(metas)} checkpoints and {ckpt / 'consensus.json'}")


def print_summary(body: dict) -> None:
    m = body["measured"]
    where = "CREMA-D" if m["mode"] == "cremad" else "scored speakers"
    print(f"{m['clips']} clips, {m['speakers']} speakers: {m['protocol']}")
    for n, r in m["per_model"].items():
        c = r["scored"]
        own = ""
        if "heldout" in r:
            h = r["heldout"]
            own = (f"own held-out UA {100 * h['after']['ua']:.1f} ECE {100 * h['before']['ece']:.1f}"
                   f" -> {100 * h['after']['ece']:.1f} %;  ")
        print(f"  {n:<26} T {r['temperature']:.2f}  {own}{where} UA {100 * c['after']['ua']:.1f} ECE "
              f"{100 * c['before']['ece']:.1f} -> {100 * c['after']['ece']:.1f} %  "
              f"top share {100 * c['after']['top_share_pred']:.0f} %")
    for k, v in m["consensus"].items():
        print(f"  consensus {k:<22} UA {100 * v['ua']:.1f}  ECE {100 * v['ece']:.1f} %  "
              f"top share {100 * v['top_share_pred']:.0f} %" + (f"  ({v['model']})" if "model" in v else ""))
    th = m["threshold_cross_fitted"]
    print(f"  method {body['method']}; threshold {body['threshold']:.2f} (all clips); cross-fitted: "
          f"coverage {100 * th['coverage']:.0f} %, accuracy answered {100 * th['accuracy_answered']:.1f} % "
          f"vs all {100 * th['accuracy_all']:.1f} %")
    print("  weights: " + ", ".join(f"{k} {v:.2f}" for k, v in body["stacking"]["weights"].items()))


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ValueError as err:  # no mode fits, no shared held-out speakers, a refit that would see them
        raise SystemExit(f"error: {err}")
