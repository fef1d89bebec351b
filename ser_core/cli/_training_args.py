"""Arguments shared by ``train``/``cv``, ``finetune`` and ``bench-train`` (not a subcommand)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ser_core.errors import ConfigError


def add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    from ser_core.data import list_corpora

    g = p.add_argument_group("data")
    g.add_argument("--corpus", required=required, metavar="C[,C2]",
                   help=f"corpus name(s): {', '.join(list_corpora())}")
    g.add_argument("--root", required=required, metavar="PATH[,PATH2]",
                   help="root folder of each corpus, in --corpus order")
    g.add_argument("--labels", default=None, metavar="SET",
                   help="label set: ekman7, iemocap4, native:<corpus> or 'native' "
                        "(default: native for one corpus)")
    g.add_argument("--max-speakers", type=int, default=None, metavar="N",
                   help="use only N speakers per corpus (small subsets)")
    g.add_argument("--max-utterances", type=int, default=None, metavar="N",
                   help="use at most N utterances in all, spread over speakers and labels")


def add_protocol_args(p: argparse.ArgumentParser, default: str = "speaker-kfold") -> None:
    g = p.add_argument_group("protocol")
    g.add_argument("--protocol", default=default,
                   help="speaker-kfold (kfold), leave-one-speaker-out (loso), "
                        "leave-one-session-out, seed000, cross-corpus, leave-one-corpus-out (loco: one "
                        "fold per corpus, tested on the corpus left out), final (the shipped fit: every speaker "
                        "but 1 validation and 1 test speaker per corpus), speaker-dependent-random "
                        f"(default {default})")
    g.add_argument("--folds", type=int, default=None, metavar="K",
                   help="k for speaker-kfold (default 5) or speaker-dependent-random")
    g.add_argument("--val-speakers", type=int, default=None, metavar="N",
                   help="validation speakers held out of training per fold (default 1 when "
                        "the data has enough speakers)")
    g.add_argument("--val-per-corpus", action="store_true",
                   help="leave-one-corpus-out: --val-speakers from each training corpus, not "
                        "from their pool (as the final fit holds back)")
    g.add_argument("--fold-index", default=None, metavar="I[,J]",
                   help="run only these folds (0-based)")
    g.add_argument("--seed", type=int, default=0, help="seed for splits, init, batches (default 0)")
    g.add_argument("--split-seed", type=int, default=None, metavar="N",
                   help="seed for the speaker split and subset alone (default: --seed); e.g. "
                        "--seed 1 --split-seed 0 trains another seed on the same speakers")


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training recipe (defaults: the model's seed recipe)")
    g.add_argument("--epochs", type=int, default=None, metavar="N")
    g.add_argument("--batch-size", type=int, default=None, metavar="N")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default=None)
    g.add_argument("--patience", type=int, default=None, metavar="N",
                   help="early stopping patience in epochs (0 = off)")
    g.add_argument("--monitor", choices=("ua", "wa", "macro_f1", "weighted_f1", "loss"),
                   default=None, help="validation metric for early stopping / best checkpoint")
    g.add_argument("--balance", choices=("weighted_loss", "sampler", "corpus_sampler", "none"),
                   default=None,
                   help="class imbalance: weighted cross-entropy, balanced sampling, or sampling "
                        "balanced over classes and, within a class, over corpora")
    g.add_argument("--augment", default=None, metavar="SPEC",
                   help="none | awgn | seed002 | room (noise, reverberation, gain, band) "
                        "[,p=0.5,snr=10-25,ops=pitch+noise,k=2,rt60=0.2-0.8,gain=-12-6]")
    g.add_argument("--mixup", dest="mixup_alpha", type=float, default=None, metavar="ALPHA",
                   help="mixup of training batches, lam ~ Beta(ALPHA, ALPHA) (GLAM's public "
                        "code: 0.5); 0 = off")
    g.add_argument("--normalize", dest="normalize", action="store_true", default=None,
                   help="standardise features with training-set mean/std")
    g.add_argument("--no-normalize", dest="normalize", action="store_false")
    g.add_argument("--vad-trim", dest="vad_trim", action="store_true", default=None,
                   help="cut each utterance to its speech (voice activity detection), as "
                        "predict and the app do")
    g.add_argument("--seed002-rules", dest="seed002_rules", action="store_true", default=None,
                   help="also apply seed 002's early-stopping rules A/B/C")
    g.add_argument("--set", dest="recipe_set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other recipe field (scheduler=step, gamma=0.5, grad_clip=5, ...)")
    g.add_argument("--model-set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override (JSON values: conv_channels=[8,8], dropout=0.2)")
    g.add_argument("--feature-set", action="append", default=[], metavar="KEY=VALUE",
                   help="feature config override (JSON values), e.g. lowpass_hz=5500 to "
                        "band-limit every input as the shipped checkpoints do")


def add_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, metavar="DIR", help="results directory")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = CUDA when present (default)")
    g.add_argument("--no-amp", dest="amp", action="store_false",
                   help="no bf16 autocast on GPU")
    g.add_argument("--nondeterministic", dest="deterministic", action="store_false",
                   help="let cuDNN pick the fastest (non-deterministic) kernels")
    g.add_argument("--save-fold-checkpoints", action="store_true",
                   help="also keep every fold's checkpoint under DIR/folds/")
    g.add_argument("--quiet", action="store_true", help="no progress on the terminal")
    g.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from ser_core.training.recipes import parse_set_options

    fields = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "patience", "monitor",
              "balance", "augment", "normalize", "seed002_rules", "mixup_alpha", "vad_trim")
    out = {f: getattr(args, f, None) for f in fields}
    out = {k: v for k, v in out.items() if v is not None}
    out.update(parse_set_options(getattr(args, "recipe_set", None)))
    if "augment" in out:
        from ser_core.training.augment import parse_augment

        parse_augment(out["augment"])  # fail early on a bad spec
    return out


def fold_indices(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return sorted({int(v) for v in str(value).split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--fold-index {value!r} should be comma-separated integers.") from None


def default_labels(args: argparse.Namespace) -> str:
    if args.labels:
        return args.labels
    names = [c for c in str(args.corpus).split(",") if c.strip()]
    if len(names) > 1:
        raise ConfigError("several corpora need a shared label set: add --labels ekman7 or "
                          "--labels iemocap4.")
    return "native"


def print_summary(results: dict, as_json: bool) -> None:
    from ser_core.training.metrics import METRIC_KEYS, METRIC_NAMES as names
    from ser_core.training.progress import _clean

    if as_json:
        print(json.dumps(_clean(results), indent=2))
        return
    print(f"{'fold':<28}" + "".join(f"{names[k]:>9}" for k in METRIC_KEYS))
    for r in results["folds"]:
        print(f"{r['fold']:<28}" + "".join(f"{100 * r['test'][k]:9.2f}" for k in METRIC_KEYS))
    s = results["summary"]
    print(f"{'mean':<28}" + "".join(f"{100 * s[k]['mean']:9.2f}" for k in METRIC_KEYS))
    print(f"{'std':<28}" + "".join(f"{100 * s[k]['std']:9.2f}" for k in METRIC_KEYS))
    if results.get("checkpoint"):
        print(f"checkpoint: {results['checkpoint']}")


def command_argv(args: argparse.Namespace, subcommand: str) -> list[str]:
    """The command line that reproduces ``args`` (``[subcommand, --opt, value, ...]``),
    rebuilt from the parsed values so it is right however the command was called."""
    import sys

    from_cli = sys.argv and sys.argv[0].replace("\\", "/").endswith("ser_core/__main__.py")
    if from_cli and sys.argv[1:2] == [subcommand]:
        return list(sys.argv[1:])
    from ser_core.cli import render_options, subcommand_parser

    return [subcommand, *render_options(subcommand_parser((subcommand,)), args)]
