"""``python -m ser_core bench-train``: training throughput per model (a measurement, not a test).

    python -m ser_core bench-train --models glam,acrnn --device cpu --utterances 32
    python -m ser_core bench-train --corpus ravdess --root ../shared/data/ravdess --device cuda

Prints utterances/s, segments/s, seconds per epoch (steady state; the first epoch, which
also builds the feature cache, apart), a projected 5-fold CV time on RAVDESS + Emo-DB + EMOVO
at the recipe's epoch budget and, on CUDA, the mean GPU utilisation and peak memory. Each
model trains with its own recipe (batch size, optimiser, augmentation) on ``--utterances``
clips: real ones with ``--corpus/--root``, else synthetic 3.5 s clips.
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def register(sub) -> None:
    p = sub.add_parser("bench-train", help="training throughput per model (utt/s, s/epoch)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="all", help="comma-separated model names (default all)")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, all or auto (default: cuda when present, else cpu)")
    p.add_argument("--utterances", type=int, default=32, help="clips per epoch (default 32)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per model (default 3)")
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch size")
    p.add_argument("--corpus", default=None, help="take clips from this corpus (with --root)")
    p.add_argument("--root", default=None)
    p.add_argument("--labels", default="native")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--model-set", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="model config override for one model (e.g. acrnn:conv_channels=[64,64])")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    p.set_defaults(handler=run)


def _devices(arg: str):
    import torch

    from ser_core.errors import ConfigError

    has_cuda = torch.cuda.is_available()
    if arg == "auto":
        return ["cuda" if has_cuda else "cpu"]
    if arg == "all":
        return ["cpu"] + (["cuda"] if has_cuda else [])
    if arg == "cuda" and not has_cuda:
        raise ConfigError("--device cuda: no CUDA device is available here.")
    if arg not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be cpu, cuda, all or auto, not {arg!r}.")
    return [arg]


def run(args) -> int:
    import sys

    import torch

    from ser_core.options import parse_settings
    from ser_core.errors import ConfigError
    from ser_core.models import list_models
    from ser_core.training import bench as B

    if args.threads:
        torch.set_num_threads(args.threads)
    names = list_models() if args.models == "all" else [m.strip() for m in args.models.split(",")]
    unknown = [m for m in names if m not in list_models()]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}.")
    per_model: dict[str, list[str]] = {}
    for item in args.model_set:
        model, _, kv = item.partition(":")
        per_model.setdefault(model, []).append(kv)
    if args.utterances < 2 or args.epochs < 1:
        raise ConfigError("--utterances must be >= 2 and --epochs >= 1.")
    if args.corpus:
        from ser_core.training.datasets import load_waveforms
        from ser_core.training.protocols import load_corpora, parse_corpora, subsample

        utts, label_set, _ = load_corpora(parse_corpora(args.corpus, args.root or ""), args.labels)
        utts = subsample(utts, None, args.utterances, 0)[: args.utterances]
        waves = load_waveforms([u.path for u in utts])
        classes = list(label_set.classes)
        labels = [classes.index(u.label) for u in utts]
        source = f"{args.corpus} ({len(utts)} utterances)"
    else:
        waves, labels = B.synthetic_clips(args.utterances)
        source = f"synthetic 3.5 s clips ({args.utterances})"
    rows = []
    for device in _devices(args.device):
        for name in names:
            print(f"… {name} on {device}", file=sys.stderr, flush=True)
            try:
                rows.append(B.bench_model(name, torch.device(device), waves, labels,
                                          epochs=args.epochs, batch_size=args.batch_size,
                                          model_config=parse_settings(per_model.get(name), "--model-set"),
                                          amp=args.amp))
            except Exception as exc:  # one model failing must not hide the others' numbers
                rows.append(B.BenchRow(name, device, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       error=f"{type(exc).__name__}: {exc}"[:200]))
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    else:
        print(f"training throughput on {source}, {args.epochs} epochs, torch "
              f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
        print(B.format_table(rows))
    return 0
