"""Calibration, the fitted consensus and "not sure" measured across left-out corpora.

    # one file per left-out corpus, each from fold models that never heard it
    python -m ser_core loco --corpus emodb --root ../shared/data/emodb \
        --checkpoint <fold-1 checkpoints> --predictions runs/loco_pred/emodb.json
    ...
    python scripts/calibrate_loco.py runs/loco_pred/*.json [--out results/loco_calibration/NAME.json]

Each left-out corpus is scored with the members' temperatures, the consensus weights, the
consensus temperature and the "not sure" threshold fitted on the *other* left-out corpora
(``ser_core/training/loco_calibration.py``). Prints the table the README shows and the
cross-fitted threshold's coverage and accuracy; ``--out`` writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.data.atomic import atomic_write_bytes  # noqa: E402
from ser_core.training import loco_calibration as lc  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", nargs="+", help="loco --predictions files, one per left-out corpus")
    ap.add_argument("--out", default=None, help="write the measurement as JSON here")
    args = ap.parse_args(argv)
    pred = lc.load(args.predictions)
    res = lc.measure(pred)
    print(f"{res['clips']} clips of {len(res['corpora'])} left-out corpora "
          f"({', '.join(res['corpora'])}); members {', '.join(res['members'])}; each corpus scored "
          "with every fit made on the other corpora")
    print(lc.markdown_table(res))
    best = res["best_single"]
    print(f"best single member (calibrated): {best['model']} {100 * best['ua']:.1f} % UA (mean over corpora); "
          f"shown consensus: {res['method']}")
    th = res["threshold_cross_fitted"]
    for c, h in zip(res["corpora"], th["halves"]):
        print(f"  not sure on {c}: threshold {h['threshold']:.2f} (fitted on the others) answers "
              f"{100 * h['coverage']:.0f} % at {100 * h['accuracy_answered']:.1f} % accuracy "
              f"against {100 * h['accuracy_all']:.1f} % over all clips")
    for c, sig in res["confidence_signals"].items():
        print(f"  {c}: accuracy of the mean {100 * sig['accuracy']:.1f} %, mean top probability "
              f"{sig['top_probability']:.2f}, members agreeing {100 * sig['agreement']:.0f} %; "
              f"'is it right' modelled from the other corpora: ECE {100 * sig['ece_modelled']:.1f} %")
    fa = res["fit_all"]
    print("fitted on every corpus: temperatures "
          + ", ".join(f"{k} {v:.2f}" for k, v in fa["temperatures"].items())
          + "; weights " + ", ".join(f"{k} {v:.2f}" for k, v in fa["weights"].items())
          + f"; consensus temperature {fa['mean_temperature']:.2f}; threshold {fa['threshold']:.2f}")
    if args.out:
        atomic_write_bytes(Path(args.out), json.dumps(res, indent=1).encode())
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
