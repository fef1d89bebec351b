"""``python -m ser_core fit-acoustic``: fit, measure and save the ``acoustic_stats`` model.

    python -m ser_core fit-acoustic --corpus ravdess,emodb,emovo,cremad \\
        --root ../shared/data/ravdess,../shared/data/emodb,../shared/data/emovo,../shared/data/cremad \\
        --labels ekman7 --out checkpoints/acoustic_stats

A separate command, not ``train --model acoustic_stats``: the gradient trainer cuts clips into
segments and runs epochs with early stopping on a validation speaker, while this model is one
closed-form scikit-learn fit on one vector of utterance functionals per clip (cached under
``$SER_CACHE_DIR``, so a refit takes seconds). It measures speaker-independent 5-fold and
leave-one-corpus-out UA, fits a temperature on the 5-fold held-out speakers, fits the
"my voice" head (functionals relative to the speaker's neutral clips), then fits on every
utterance and writes the checkpoint (safetensors + config.json) with all of it.
"""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("fit-acoustic", help="fit the acoustic-statistics baseline (scikit-learn)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus names, comma-separated")
    p.add_argument("--root", required=True, help="their folders, comma-separated, same order")
    p.add_argument("--labels", default="ekman7", help="label set (default ekman7)")
    p.add_argument("--classifier", default="logreg", choices=("logreg", "linear_svm"))
    p.add_argument("--C", type=float, default=0.1, help="inverse regularisation (default 0.1)")
    p.add_argument("--balance", default="class", choices=("class", "corpus"),
                   help="class: inverse class frequency (default); corpus: every class the same "
                        "weight and, within a class, every corpus that has it the same share")
    p.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder to write")
    p.add_argument("--json", action="store_true", help="print the measured metrics as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    import json

    from ser_core.data import parse_corpus_args
    from ser_core.training.acoustic_train import train_acoustic_stats

    pairs = parse_corpus_args(args.corpus, args.root)
    argv = sys.argv[2:] if len(sys.argv) > 2 and sys.argv[1] == "fit-acoustic" else []
    meta = train_acoustic_stats([n for n, _ in pairs], [str(r) for _, r in pairs], args.labels,
                                args.classifier, args.C, args.out, argv,
                                log=lambda s: print(s, file=sys.stderr), balance=args.balance)
    m = meta["metrics"]
    summary = {"checkpoint": args.out, "kfold_ua": m["mean"]["ua"], "kfold_ua_std": m["std"]["ua"],
               "loco": {c: v["ua"] for c, v in m["leave_one_corpus_out"]["per_corpus"].items()},
               "temperature": meta["temperature"], "calibration": meta["calibration"],
               "my_voice": {k: meta["speaker_reference"][k]["per_corpus"] for k in
                            ("loco_with_reference", "loco_without_reference_same_clips")}}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.out}: 5-fold UA {100 * m['mean']['ua']:.1f} ± {100 * m['std']['ua']:.1f}; LOCO UA "
          + ", ".join(f"{c} {100 * u:.1f}" for c, u in summary["loco"].items())
          + f"; temperature {meta['temperature']:.2f}")
    return 0
