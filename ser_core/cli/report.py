"""``python -m ser_core report``: the results tables, computed from files.

    python -m ser_core report                            # every checkpoint under checkpoints/
    python -m ser_core report runs/shipped/glam-emodb7   # a training run (not shipped)
    python -m ser_core report --ensemble runs/shipped/glam runs/shipped/dual_dslstm ...
    python -m ser_core report --loco                     # only the left-out-corpus table

The headline is leave-one-corpus-out: the shipped checkpoints and their consensus on a corpus
none of them trained on (stored by ``python -m ser_core loco ... --save`` in results/loco/),
with 95 % confidence intervals from a bootstrap over speakers; then the k-fold table.

Without ``--ensemble``: a markdown table of the checkpoints' measured metrics (UA / WA /
macro-F1 mean ± std over speaker-independent folds, pooled and per corpus; the prediction
spread; the weights' precision), read from their metadata. With ``--ensemble RUN ...``: the
mean-posterior ensemble of those training runs, scored on their shared speaker-independent
split (the runs must share labels and split).
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("report", help="results tables of checkpoints, or of an ensemble of runs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", metavar="DIR",
                   help="checkpoint folders, folders holding them, or training run folders "
                        "(default: checkpoints/)")
    p.add_argument("--ensemble", nargs="+", metavar="RUN_DIR", default=None,
                   help="score the mean posterior of these training runs instead")
    p.add_argument("--loco", action="store_true",
                   help="only the leave-one-corpus-out table (and consensus confusion matrices)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--calibration", action="store_true",
                   help="also print the calibration of the first folder's consensus.json "
                        "(printed by default for checkpoints/)")
    p.set_defaults(handler=run)


def print_loco(only: bool) -> bool:
    """The left-out-corpus headline (results/loco/*.json); False when there is none."""
    from ser_core import loco

    results = loco.load_results()
    if not results:
        if only:
            print("no left-out-corpus results: run python -m ser_core loco --corpus C --root DIR --save")
        return False
    print("Leave-one-corpus-out (corpus never heard in training; 95 % CI: bootstrap over speakers):\n")
    print(loco.markdown_table(results))
    if only:
        for r in results:
            print()
            print(loco.confusion_text(r))
    return True


def run(args) -> int:
    import json
    from pathlib import Path

    from ser_core.checkpoint import find_checkpoints
    from ser_core.errors import ConfigError
    from ser_core.training import export
    from ser_core.training.metrics import METRIC_NAMES

    if args.ensemble:
        res = export.ensemble_cv(args.ensemble)
        if args.json:
            print(json.dumps(res, indent=2, default=float))
            return 0
        print(f"ensemble of {len(res['members'])} runs (mean posterior), split "
              f"{res['split_fingerprint']}, {res['pooled']['folds']} speaker-independent folds:")
        for scope, d in [("pooled", res["pooled"]), *res["per_corpus"].items()]:
            print(f"  {scope:<10}" + "  ".join(f"{METRIC_NAMES[k]} {export.mean_std_text(d, k)}"
                                               for k in ("ua", "wa", "macro_f1")))
        sp = res["prediction_spread"]
        print(f"  top-class share: predicted {100 * sp['top_share_pred']:.1f} %, "
              f"true {100 * sp['top_share_true']:.1f} %")
        return 0
    dirs = []
    for d in args.checkpoints or ["checkpoints"]:
        is_run = (Path(d) / "results.json").is_file() and (Path(d) / "checkpoint").is_dir()
        dirs += [Path(d)] if is_run else (find_checkpoints(d) or [])
    if not dirs:
        raise ConfigError(f"no checkpoints under {', '.join(args.checkpoints or ['checkpoints'])}.")
    if args.loco:
        print_loco(True)
        return 0
    if args.json:
        print(json.dumps({str(d): {k: export.table_meta(d).get(k) for k in
                                   ("model", "labels", "metrics", "prediction_spread", "precision")}
                          for d in dirs}, indent=2))
        return 0
    if not args.checkpoints and print_loco(False):
        print("\nSpeakers never heard, within the training corpora: speaker-independent k-fold "
              "(mean ± std over folds), or, for a final fit, its held-back test speakers:\n")
    print(export.markdown_table(dirs))
    if not args.checkpoints or args.calibration:
        from ser_core.consensus import calibration_text, load_settings

        text = calibration_text(load_settings(Path((args.checkpoints or ["checkpoints"])[0])))
        if text:
            print("\n" + text)
    return 0
