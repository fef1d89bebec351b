"""Choose the acoustic_stats classifier, C and balance by leave-one-corpus-out UA (cached
functionals).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/select_acoustic_stats.py [--data ../shared/data] \
        [--out runs/acoustic_stats_selection.json]

Prints one row per (classifier, C, balance): mean LOCO UA over the left-out corpora, each corpus' LOCO
UA, and the speaker-independent 5-fold UA. The choice is by mean LOCO UA (the number that
predicts unseen voices); note that choosing C on the same LOCO folds that are then reported
makes the reported LOCO figure slightly optimistic (twelve candidates). ``balance``: ``class``
(inverse class frequency) or ``corpus`` (classes equal, and corpora equal within a class).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = [(clf, C, balance) for balance in ("class", "corpus")
        for clf, C in [("logreg", 0.01), ("logreg", 0.1), ("logreg", 1.0),
                       ("linear_svm", 0.001), ("linear_svm", 0.01), ("linear_svm", 0.1)]]


def main() -> int:
    import numpy as np

    from ser_core.data import load_labeled
    from ser_core.training.acoustic_fit import out_of_fold, protocol_metrics
    from ser_core.training.functional_data import functionals_of

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--corpora", default="ravdess,emodb,emovo,cremad")
    ap.add_argument("--labels", default="ekman7")
    ap.add_argument("--out", default="runs/acoustic_stats_selection.json")
    args = ap.parse_args()
    names = args.corpora.split(",")
    data = load_labeled(names, [str(Path(args.data) / n) for n in names], args.labels, check_audio=False)
    table = functionals_of(data.utterances, data.classes)
    rows = []
    for clf, C, balance in GRID:
        loco = protocol_metrics(table, *out_of_fold(table, "loco", clf, C, balance=balance))
        kf = protocol_metrics(table, *out_of_fold(table, "speaker-kfold", clf, C, balance=balance))
        per = {c: v["ua"] for c, v in loco["per_corpus"].items()}
        rows.append({"classifier": clf, "C": C, "balance": balance, "loco_mean_ua": float(np.mean(list(per.values()))),
                     "loco": per, "loco_top_share": {c: v["top_share_pred"] for c, v in loco["per_corpus"].items()},
                     "kfold_ua": kf["ua"], "kfold_ua_std": kf["ua_std"]})
        print(f"{clf:<10} C={C:<6} {balance:<6} LOCO mean {100 * rows[-1]['loco_mean_ua']:.1f} ("
              + ", ".join(f"{c} {100 * u:.1f}" for c, u in per.items())
              + f") | 5-fold {100 * kf['ua']:.1f} ± {100 * kf['ua_std']:.1f}", flush=True)
    best = max(rows, key=lambda r: r["loco_mean_ua"])
    print(f"chosen: {best['classifier']} C={best['C']} balance={best['balance']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "chosen": best}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
