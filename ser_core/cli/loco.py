"""``python -m ser_core loco``: installed checkpoints on a corpus none of them trained on.

    python -m ser_core loco --corpus cremad --root ../shared/data/cremad
    python -m ser_core loco --corpus cremad --root ../shared/data/cremad --max-utterances 600 --no-vad
    python -m ser_core loco --corpus cremad --root ../shared/data/cremad --save   # results/loco/cremad.json

Every utterance of the corpus that the label set keeps (ekman7 unless --labels) is predicted
by every model (default: the installed checkpoints) through the inference service, as
``predict`` and the app do; prints per model and for their consensus UA, macro-F1 with 95 %
confidence intervals from a bootstrap over speakers, the top-class share (predicted vs
true) and the consensus confusion matrix. A model trained on the corpus is refused (the
corpus would not be left out). ``--save`` stores the result where ``report`` reads it;
``--predictions FILE`` keeps every clip's posteriors (consensus and each model), which
``scripts/calibrate_loco.py`` fits calibration on across left-out corpora.
Training under the leave-one-corpus-out protocol is ``train --protocol leave-one-corpus-out``.
"""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("loco", help="checkpoints tested on a left-out corpus (speaker bootstrap CIs)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="the left-out corpus (e.g. cremad)")
    p.add_argument("--root", required=True, metavar="PATH", help="its root folder")
    p.add_argument("--labels", default="ekman7", metavar="SET", help="label set (default ekman7)")
    p.add_argument("--checkpoint", action="append", default=None, metavar="DIR",
                   help="checkpoint or folder of checkpoints (repeatable; default: installed)")
    p.add_argument("--max-utterances", type=int, default=None, metavar="N",
                   help="a fixed subset of N utterances spread over speakers and classes")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset and the bootstrap")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap replicates")
    p.add_argument("--no-vad", action="store_true", help="no voice activity detection")
    p.add_argument("--no-trim", action="store_true", help="VAD, but do not trim the silence")
    p.add_argument("--min-fill", type=float, default=0.5, metavar="F",
                   help="a segment votes when this share of it is speech / not padding "
                        "(0 = every segment votes, as before)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--save", action="store_true",
                   help="write results/loco/<corpus>.json (or <--name>.json)")
    p.add_argument("--name", default=None, help="file name under results/loco/ (default: the corpus)")
    p.add_argument("--note", default=None, metavar="TEXT",
                   help="which checkpoints these are (e.g. their training recipe); shown in the table")
    p.add_argument("--out", default=None, metavar="FILE", help="write the JSON result here")
    p.add_argument("--predictions", default=None, metavar="FILE",
                   help="also write every clip's posteriors (consensus and each model) here, "
                        "for calibration across left-out corpora (scripts/calibrate_loco.py)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    import sys
    from pathlib import Path

    import torch

    from ser_core import loco
    from ser_core.data import load_labeled
    from ser_core.data.atomic import atomic_write_bytes
    from ser_core.inference import InferenceService
    from ser_core.training.protocols import subsample

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_labeled(args.corpus, [args.root], args.labels)
    utts = subsample(list(data.utterances), None, args.max_utterances, args.seed)
    svc = InferenceService.from_paths(args.checkpoint, device="cpu", vad=not args.no_vad,
                                      trim=not args.no_trim, min_fill=args.min_fill)

    def progress(i: int, n: int) -> None:
        if not args.json and (i % 100 == 0 or i == n):
            print(f"  {i}/{n}", file=sys.stderr, flush=True)

    res = loco.evaluate_left_out(svc, utts, data.utterances[0].corpus if utts else args.corpus,
                                 n_boot=args.bootstrap, seed=args.seed, progress=progress,
                                 keep_predictions=bool(args.predictions))
    if args.predictions:
        rows = res.pop("predictions")
        atomic_write_bytes(Path(args.predictions), json.dumps(
            {"corpus": res["corpus"], "labels": res["labels"], "trained_on": res["trained_on"],
             "settings": res["settings"], "rows": rows}).encode())
    res.update(root=str(Path(args.root)), label_set=args.labels, subset=args.max_utterances)
    if args.note:
        res["note"] = args.note
    text = json.dumps(res, indent=1).encode()
    for target in ([args.out] if args.out else []) + ([str(loco.RESULTS_DIR / f"{args.name or res['corpus']}.json")]
                                                      if args.save else []):
        atomic_write_bytes(Path(target), text)
    if args.json:
        print(text.decode())
        return 0
    s = res["settings"]
    print(f"left-out {res['corpus']}: {res['utterances']} clips, {res['speakers']} speakers, "
          f"{res['seconds']} s; VAD {'on' if s['vad'] else 'off'}, trim {s['trim']}, "
          f"min fill {s['min_fill']}")
    print(loco.markdown_table([res]))
    print(loco.confusion_text(res))
    return 0
