"""``python -m ser_core evaluate``: test a checkpoint on a corpus.

    python -m ser_core evaluate --checkpoint runs/glam-emodb/checkpoint \\
        --corpus emovo --root ../shared/data/emovo --json

Every utterance the checkpoint's label set keeps (or ``--labels``) is predicted (segments
pooled with the model's aggregation); prints WA, UA, weighted and macro F1 and the
row-normalised confusion matrix. ``--out DIR`` also writes predictions.csv/json,
results.json and run.json there.
"""

from __future__ import annotations

import argparse
import json

from ser_core.cli import _training_args as A


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="test a checkpoint on a corpus", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="DIR")
    A.add_data_args(p)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help="seed of the subset choice")
    p.add_argument("--out", default=None, metavar="DIR", help="write predictions and results here")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(handler=run, validate=validate_args)


def validate_args(args) -> None:
    from ser_core.checkpoint import read_meta

    read_meta(args.checkpoint)


def run(args) -> int:
    from ser_core.training.progress import _clean
    from ser_core.training.evaluation import evaluate_checkpoint
    from ser_core.training.protocols import parse_corpora

    res = evaluate_checkpoint(args.checkpoint, parse_corpora(args.corpus, args.root),
                              labels=args.labels, device=args.device,
                              max_speakers=args.max_speakers, max_utterances=args.max_utterances,
                              seed=args.seed, out=args.out, argv=A.command_argv(args, "evaluate"))
    if args.json:
        print(json.dumps(_clean(res), indent=2))
        return 0
    m = res["metrics"]
    print(f"{res['model']} on {'+'.join(res['corpora'])} ({res['utterances']} utterances, "
          f"{res['label_set']}): WA {100 * m['wa']:.2f}  UA {100 * m['ua']:.2f}  "
          f"WF1 {100 * m['weighted_f1']:.2f}  MF1 {100 * m['macro_f1']:.2f}")
    labels = res["labels"]
    width = max(len(l) for l in labels) + 2
    print("confusion (rows: true, %):".ljust(width) + "".join(l[:7].rjust(8) for l in labels))
    for name, row in zip(labels, m["confusion"]):
        print(name.ljust(width) + "".join(f"{100 * v:8.1f}" for v in row))
    if res.get("out"):
        print(f"predictions: {res['out']}/predictions.csv")
    return 0
