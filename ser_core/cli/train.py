"""``python -m ser_core train`` (and its alias ``cv``): run a whole protocol for one model.

    python -m ser_core train --model glam --corpus emodb --root ../shared/data/emodb \\
        --protocol speaker-kfold --folds 5 --out runs/glam-emodb

Cross-validation when the protocol has folds; ``--protocol cross-corpus`` trains on the
corpora not named in ``--test-corpora`` (default: the last ``--corpus``) and tests on those.
Progress: a bar per epoch on stderr and ``DIR/progress.jsonl``; results in ``DIR`` (see
:mod:`ser_core.training.rundir`). Under ``torchrun --nproc_per_node N -m ser_core train ...``
the epochs are data-parallel (DDP).
"""

from __future__ import annotations

import argparse

from ser_core.cli import _training_args as A


def register(sub) -> None:
    for name, helptext in (("train", "train a model under a protocol (CV, cross-corpus)"),
                           ("cv", "alias of train (cross-validation)")):
        p = sub.add_parser(name, help=helptext, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--model", required=True, help="registered model name (python -m ser_core models)")
        A.add_data_args(p)
        A.add_protocol_args(p)
        p.add_argument("--test-corpora", default=None, metavar="C[,C2]",
                       help="cross-corpus: the corpora to test on (default: the last --corpus)")
        A.add_recipe_args(p)
        A.add_run_args(p)
        p.set_defaults(handler=run, validate=validate_args)


def build_options(args):
    from ser_core.models import model_class
    from ser_core.options import parse_settings
    from ser_core.training.protocols import TrainOptions, parse_corpora

    model_class(args.model)
    return TrainOptions(
        model=args.model, corpora=parse_corpora(args.corpus, args.root), out=args.out,
        labels=A.default_labels(args), protocol=args.protocol, folds=args.folds,
        val_speakers=args.val_speakers, val_per_corpus=args.val_per_corpus,
        test_corpora=[c.strip() for c in (args.test_corpora or "").split(",") if c.strip()],
        seed=args.seed, split_seed=args.split_seed, device=args.device,
        recipe_overrides=A.recipe_overrides(args),
        model_config=parse_settings(args.model_set, "--model-set"),
        feature_overrides=parse_settings(args.feature_set, "--feature-set"),
        max_speakers=args.max_speakers,
        max_utterances=args.max_utterances, amp=args.amp, deterministic=args.deterministic,
        save_fold_checkpoints=args.save_fold_checkpoints,
        only_folds=A.fold_indices(args.fold_index), quiet=args.quiet,
        argv=A.command_argv(args, args.command))


def validate_args(args) -> None:
    """Cheap checks (used by the jobs layer at submit time): names, options, values."""
    from ser_core.data.splits import canonical_protocol
    from ser_core.models import build_config
    from ser_core.training.recipes import recipe_for

    opts = build_options(args)
    canonical_protocol(opts.protocol)
    recipe_for(opts.model, **opts.recipe_overrides)
    build_config(opts.model, **opts.model_config)


def run(args) -> int:
    from ser_core.training.protocols import run_training

    validate_args(args)
    results = run_training(build_options(args))
    A.print_summary(results, args.json)
    return 0
