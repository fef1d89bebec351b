"""Fine-tuning: a trained checkpoint on another corpus, fold by fold.

Per fold of the target corpus: a zero-shot test of the checkpoint as it is ("before", when
the label set is the checkpoint's own), then training of the last k layer groups (seed 000)
or of the groups seed 002's freeze subset (a)-(g) leaves free, with a new classifier head
when the label set changes; test again ("after"). The folds run through the shared
:func:`~ser_core.training.folds.run_folds`; :class:`FinetuneStrategy` is what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ser_core.checkpoint import CheckpointMeta, load_checkpoint
from ser_core.errors import ConfigError
from ser_core.models import freeze_all_but_last
from ser_core.training.folds import FoldPlan, FoldResult, FoldStrategy, run_folds
from ser_core.training.metrics import METRIC_KEYS, format_summary, summarize_folds
from ser_core.training.protocols import (CorpusArg, FinetuneOptions, labelled_items,
                                         load_corpora, start_run)
from ser_core.training.recipes import recipe_for
from ser_core.training.session import Session, in_session
from ser_core.training.trainer import EvalResult, FitResult, Trainer


def run_finetune(opts: FinetuneOptions) -> dict:
    """Fine-tune ``opts.checkpoint`` on the target corpora under the protocol; results dict."""
    return in_session(opts, _run_finetune)


def _finetune_groups(model, opts: FinetuneOptions) -> list[str]:
    chosen = [x is not None and x != [] for x in (opts.unfreeze_last, opts.freeze_subset,
                                                  opts.unfreeze_groups)]
    if sum(chosen) != 1:
        raise ConfigError("choose exactly one of --unfreeze-last K, --freeze-subset X or "
                          "--unfreeze GROUP[,GROUP].")
    names = [n for n, _ in model.layer_groups()]
    if opts.unfreeze_last is not None:
        k = int(opts.unfreeze_last)
        if not 1 <= k <= len(names):
            raise ConfigError(f"--unfreeze-last must be between 1 and {len(names)} for "
                              f"{model.name} (its groups: {', '.join(names)}).")
        return freeze_all_but_last(model, k)
    if opts.freeze_subset is not None:
        from ser_core.models.spectral_cnns import FREEZE_SUBSETS, frozen_groups

        key = opts.freeze_subset.strip("()").lower()
        if key not in FREEZE_SUBSETS:
            raise ConfigError(f"--freeze-subset must be one of a-g, not {opts.freeze_subset!r}.")
        if len(names) != 7:
            raise ConfigError(f"freeze subsets (a)-(g) are seed 002's, for its 7-layer CNNs; "
                              f"{model.name} has {len(names)} groups: use --unfreeze-last.")
        frozen = set(frozen_groups(model, key))
        return [n for n in names if n not in frozen]
    unknown = [g for g in opts.unfreeze_groups if g not in names]
    if unknown:
        raise ConfigError(f"{model.name} has no layer group(s) {unknown}; groups: "
                          f"{', '.join(names)}.")
    return list(opts.unfreeze_groups)



def auto_labels(ckpt_meta: CheckpointMeta, corpora: Sequence[CorpusArg]) -> str:
    """The checkpoint's label set when it maps every target corpus, else the native set."""
    from ser_core.data.labels import get_label_set

    name = ckpt_meta.label_set
    if name:
        try:
            ls = get_label_set(name)
            if all(c.name in ls.tables for c in corpora):
                return ls.id
        except ConfigError:
            pass
    if len(corpora) != 1:
        raise ConfigError("give --labels: the checkpoint's label set does not cover these corpora.")
    return f"native:{corpora[0].name}"



class FinetuneStrategy(FoldStrategy):
    """From the checkpoint's weights, some layer groups trainable; "before" and "after"."""

    stage = "after"

    def __init__(self, opts: FinetuneOptions, src_meta: CheckpointMeta, src_state: dict,
                 trainable: list[str], same_head: bool) -> None:
        self.opts, self.src_meta, self.src_state = opts, src_meta, src_state
        self.trainable, self.same_head = trainable, same_head

    def before(self, s: Session, plan: FoldPlan, test_idx: list[int]) -> EvalResult | None:
        if not self.same_head:
            return None
        zero = plan.trainer.build_model(self.src_state, init_num_classes=self.src_meta.num_classes)
        return plan.trainer.evaluate(zero, test_idx, self.src_meta.normalization)

    def fit(self, plan: FoldPlan, k: int, train_idx: list[int], val_idx: list[int]) -> FitResult:
        fixed = None if self.opts.renormalize else (self.src_meta.normalization or {})
        return plan.trainer.fit(k, train_idx, val_idx, init_state=self.src_state,
                                init_num_classes=self.src_meta.num_classes,
                                reset_head=not self.same_head, trainable_groups=self.trainable,
                                fixed_normalization=fixed,
                                freeze_bn_stats=self.opts.freeze_bn_stats)

    def fold_line(self, name: str, r: FoldResult) -> str:
        btxt = f" (before {100 * r.before.metrics['ua']:.2f})" if r.before else ""
        return (f"fold {name}: fine-tuned test UA {100 * r.test.metrics['ua']:.2f}{btxt} "
                f"WA {100 * r.test.metrics['wa']:.2f}")

    def after_fold(self, s: Session, plan: FoldPlan, fold, r: FoldResult) -> str:
        return "ok"

    def results_extra(self, folds: list[dict]) -> dict:
        if not folds or not all(f["before"] for f in folds):
            return {"summary_before": None}
        before = summarize_folds([dict(f["before"], confusion=[[0]], confusion_counts=[[0]])
                                  for f in folds])
        return {"summary_before": {k: before[k] for k in METRIC_KEYS}}

    def checkpoint_meta(self, meta: CheckpointMeta) -> CheckpointMeta:
        meta.corpora = [*({**p, "role": "pretraining"} for p in self.src_meta.corpora),
                        *meta.corpora]
        meta.training_corpora = [*self.src_meta.training_corpora,
                                 *[c.name for c in self.opts.corpora]]
        meta.extra["finetuned_from"] = str(Path(self.opts.checkpoint).resolve())
        return meta

    def final_line(self, plan: FoldPlan, n_folds: int, summary: dict) -> str:
        return (f"fine-tuned {plan.model_name} ({', '.join(self.trainable)} trainable): "
                f"{format_summary(summary)}")


def _run_finetune(s: Session, opts: FinetuneOptions) -> dict:
    src_model, src_meta = load_checkpoint(opts.checkpoint, device="cpu")
    labels_name = opts.labels if opts.labels not in (None, "", "auto") else \
        auto_labels(src_meta, opts.corpora)
    utts, label_set, provenance = load_corpora(opts.corpora, labels_name)
    same_head = src_meta.labels == list(label_set.classes) and not opts.new_head
    recipe = recipe_for(src_meta.model, **opts.recipe_overrides)
    trainable = _finetune_groups(src_model, opts)
    split, val_rule, items, fold_ids = labelled_items(utts, label_set, opts, opts.protocol)
    source = str(Path(opts.checkpoint).resolve())
    config = {"checkpoint": source, "source_model": src_meta.model,
              "source_labels": src_meta.labels, "source_label_set": src_meta.label_set,
              "source_corpora": src_meta.training_corpora, "new_head": not same_head,
              "trainable_groups": trainable, "unfreeze_last": opts.unfreeze_last,
              "freeze_subset": opts.freeze_subset, "freeze_bn_stats": opts.freeze_bn_stats,
              "normalization": "recomputed" if opts.renormalize else "from checkpoint",
              "validation": val_rule}
    protocol_meta = {"name": f"finetune/{split.protocol}", "params": dict(split.params),
                     "speaker_independent": split.speaker_independent, "seed": opts.seed,
                     "split_fingerprint": split.fingerprint, "trainable_groups": trainable,
                     "source_checkpoint": source, "source_corpora": src_meta.training_corpora}
    bank = start_run(s, opts, src_meta.model, src_meta.input_spec, label_set, provenance, split,
                     items, fold_ids, recipe, config, protocol_meta["name"])
    trainer = Trainer(model_name=src_meta.model, labels=list(label_set.classes), recipe=recipe,
                      bank=bank, spec=src_meta.input_spec, sample_rate=src_meta.sample_rate,
                      device=s.device, seed=opts.seed, model_config=src_meta.model_config,
                      amp=opts.amp, dist_info=s.dist, progress=s.progress,
                      feature_params=src_meta.feature.config,
                      utt_domain=[it.corpus for it in items])
    plan = FoldPlan(src_meta.model, label_set, provenance, items, split, fold_ids, recipe,
                    protocol_meta, trainer)
    src_state = {k: v.detach().cpu() for k, v in src_model.state_dict().items()}
    return run_folds(s, plan, FinetuneStrategy(opts, src_meta, src_state, trainable, same_head))
