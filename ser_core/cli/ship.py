"""``python -m ser_core ship``: export a finished training run into ``checkpoints/``.

    python -m ser_core ship runs/shipped/glam --name glam
    python -m ser_core ship runs/shipped/glam --name glam --precision float32

Takes the run's best-fold checkpoint (``RUN/checkpoint``), adds the per-corpus metrics and the
prediction spread measured from the run's speaker-independent test predictions, checks on the
fold's own test speakers whether float16 weights change anything (``--precision auto``, the
default; needs the corpora) and writes ``DEST/NAME/`` atomically. See
:mod:`ser_core.training.export`.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("ship", help="export a training run's best checkpoint into checkpoints/",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="results folder of `python -m ser_core train`")
    p.add_argument("--name", required=True, help="folder name under --dest (the model's name "
                                                 "in predict and the app)")
    p.add_argument("--dest", default="checkpoints", metavar="DIR")
    p.add_argument("--precision", default="auto", choices=("auto", "float16", "float32"),
                   help="auto: float16 only when measured to change nothing (default)")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder holding the corpora (default: the roots the run used)")
    p.add_argument("--note", default=None, help="free text kept in the metadata")
    p.set_defaults(handler=run)


def run(args) -> int:
    import json
    from pathlib import Path

    from ser_core.checkpoint import read_meta
    from ser_core.training.export import ship_run

    roots = None
    if args.data_root:
        meta = read_meta(Path(args.run) / "checkpoint")
        roots = {c["name"]: str(Path(args.data_root) / c["name"]) for c in meta.corpora}
    out = ship_run(args.run, args.name, args.dest, precision=args.precision, data_roots=roots,
                   note=args.note)
    meta = read_meta(out)
    size = sum(f.stat().st_size for f in Path(out).iterdir())
    precision = meta.extra["precision"]
    print(f"{out}: {meta.model}, {meta.num_classes} classes, weights "
          f"{precision['weights']} ({size / 1e6:.1f} MB); UA "
          f"{100 * meta.metrics['mean']['ua']:.2f} ± {100 * meta.metrics['std']['ua']:.2f}")
    check = precision.get("check")
    if check:
        print("float16 check: " + json.dumps({k: check[k] for k in
                                               ("utterances", "ua_float32", "ua_float16",
                                                "agreement", "float16_ok")}))
    return 0
