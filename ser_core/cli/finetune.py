"""``python -m ser_core finetune``: adapt a trained checkpoint to another corpus.

    python -m ser_core finetune --checkpoint runs/acrnn-ravdess/checkpoint \\
        --corpus emodb --root ../shared/data/emodb --unfreeze-last 3 --out runs/ft

Per fold of the target corpus (``--protocol``, default speaker-kfold): the checkpoint is tested
as it is ("before"), then trained with only the chosen layer groups free and tested again.
Choose the free groups with ``--unfreeze-last K`` (seed 000: the last 1, 2 or 3 groups; the
classifier is always the last), ``--freeze-subset a..g`` (seed 002's subsets, for
SquirtleNET/CharmaNET/BulbaNET) or ``--unfreeze GROUP[,GROUP]``. A new classifier head is made
when the label set differs from the checkpoint's (or with ``--new-head``).
"""

from __future__ import annotations

import argparse

from ser_core.cli import _training_args as A


def register(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a checkpoint on another corpus",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint directory")
    A.add_data_args(p)
    A.add_protocol_args(p)
    g = p.add_argument_group("what is trained")
    g.add_argument("--unfreeze-last", type=int, default=None, metavar="K",
                   help="train only the last K layer groups")
    g.add_argument("--freeze-subset", default=None, metavar="X",
                   help="seed 002's freeze subset a..g")
    g.add_argument("--unfreeze", default=None, metavar="GROUP[,GROUP]",
                   help="train exactly these layer groups")
    g.add_argument("--new-head", action="store_true",
                   help="replace the classifier even when the labels are the same")
    g.add_argument("--renormalize", action="store_true",
                   help="recompute feature normalisation on the new training data "
                        "(default: keep the checkpoint's)")
    g.add_argument("--no-freeze-bn-stats", dest="freeze_bn_stats", action="store_false",
                   help="let frozen groups' batch-norm statistics follow the new data")
    A.add_recipe_args(p)
    A.add_run_args(p)
    p.set_defaults(handler=run, validate=validate_args)


def build_options(args):
    from ser_core.training.protocols import FinetuneOptions, parse_corpora

    labels = args.labels or "auto"
    return FinetuneOptions(
        model="", checkpoint=args.checkpoint, corpora=parse_corpora(args.corpus, args.root),
        out=args.out, labels=labels, protocol=args.protocol, folds=args.folds,
        val_speakers=args.val_speakers, val_per_corpus=args.val_per_corpus, seed=args.seed,
        split_seed=args.split_seed, device=args.device,
        recipe_overrides=A.recipe_overrides(args), max_speakers=args.max_speakers,
        max_utterances=args.max_utterances, amp=args.amp, deterministic=args.deterministic,
        only_folds=A.fold_indices(args.fold_index), quiet=args.quiet,
        argv=A.command_argv(args, "finetune"),
        unfreeze_last=args.unfreeze_last, freeze_subset=args.freeze_subset,
        unfreeze_groups=[g.strip() for g in args.unfreeze.split(",")] if args.unfreeze else None,
        new_head=args.new_head, freeze_bn_stats=args.freeze_bn_stats,
        renormalize=args.renormalize)


def validate_args(args) -> None:
    from ser_core.checkpoint import read_meta
    from ser_core.errors import ConfigError

    if getattr(args, "feature_set", None):
        raise ConfigError("finetune keeps the checkpoint's own features (its weights expect "
                          "them); --feature-set is for train.")
    meta = read_meta(args.checkpoint)
    n = sum(x is not None for x in (args.unfreeze_last, args.freeze_subset, args.unfreeze))
    if n != 1:
        raise ConfigError("choose exactly one of --unfreeze-last K, --freeze-subset X or "
                          "--unfreeze GROUP[,GROUP].")
    from ser_core.training.recipes import recipe_for

    recipe_for(meta.model, **A.recipe_overrides(args))


def run(args) -> int:
    from ser_core.training.finetune import run_finetune

    validate_args(args)
    results = run_finetune(build_options(args))
    A.print_summary(results, args.json)
    if not args.json and results.get("summary_before"):
        b = results["summary_before"]
        print("before fine-tuning (mean): " + " ".join(
            f"{k} {100 * b[k]['mean']:.2f}" for k in ("wa", "ua", "weighted_f1", "macro_f1")))
    return 0
