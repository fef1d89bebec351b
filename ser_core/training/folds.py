"""The one fold runner behind cross-validation, cross-corpus training and fine-tuning.

A protocol prepares a :class:`FoldPlan` (data as items, the split and which folds to run, the
trainer, the protocol's metadata) and a :class:`FoldStrategy` that says what differs: how a
fold is trained (from scratch, or from a checkpoint's weights with some layer groups frozen),
what is measured before training (fine-tuning's zero-shot test), what ends a run early (seed
002's rules), and how the best fold's checkpoint describes its origin. :func:`run_folds`
does the rest the same way for every protocol: per fold train, test, record predictions and
progress; keep the fold with the best validation score; write results and its checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ser_core.checkpoint import CheckpointMeta, save_checkpoint
from ser_core.training.datasets import Item
from ser_core.training.manifest import versions
from ser_core.training.metrics import METRIC_KEYS, format_summary, summarize_folds
from ser_core.training.recipes import Recipe
from ser_core.training.rundir import now_iso
from ser_core.training.session import Session
from ser_core.training.trainer import EvalResult, FitResult, Trainer


@dataclass
class FoldPlan:
    """What a protocol hands the runner: data, split, folds to run, trainer, metadata."""

    model_name: str
    label_set: Any                      # ser_core.data.labels.LabelSet
    provenance: list[dict]
    items: list[Item]
    split: Any                          # ser_core.data.splits.Split
    fold_ids: list[int]
    recipe: Recipe
    protocol_meta: dict
    trainer: Trainer
    uid_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.uid_index = {it.uid: i for i, it in enumerate(self.items)}

    @property
    def labels(self) -> list[str]:
        return list(self.label_set.classes)

    def indices(self, fold) -> tuple[list[int], list[int], list[int]]:
        return tuple([self.uid_index[u] for u in fold.part(p)]  # type: ignore[return-value]
                     for p in ("train", "val", "test"))


@dataclass
class FoldResult:
    """One fold: its record for ``results.json`` and what the strategy may look at."""

    record: dict
    fit: FitResult
    test: EvalResult
    val: EvalResult | None
    before: EvalResult | None = None


class FoldStrategy:
    """Cross-validation / cross-corpus: each fold trains from scratch (the defaults)."""

    stage: str | None = None            # predictions.csv stage of the trained model's answers

    def before(self, s: Session, plan: FoldPlan, test_idx: list[int]) -> EvalResult | None:
        """Measured before training (fine-tuning: the checkpoint as it is)."""
        return None

    def fit(self, plan: FoldPlan, k: int, train_idx: list[int], val_idx: list[int]) -> FitResult:
        return plan.trainer.fit(k, train_idx, val_idx)

    def fold_line(self, name: str, r: FoldResult) -> str:
        m = r.test.metrics
        return (f"fold {name}: test WA {100 * m['wa']:.2f} UA {100 * m['ua']:.2f} "
                f"WF1 {100 * m['weighted_f1']:.2f} MF1 {100 * m['macro_f1']:.2f} "
                f"(best epoch {r.fit.best_epoch})")

    def after_fold(self, s: Session, plan: FoldPlan, fold, r: FoldResult) -> str:
        """The run's status after this fold: ``"ok"`` to go on, anything else stops it."""
        return "abandoned" if r.fit.abandoned else "ok"

    def results_extra(self, folds: list[dict]) -> dict:
        return {}

    def checkpoint_meta(self, meta: CheckpointMeta) -> CheckpointMeta:
        """The best fold's checkpoint metadata, completed for this protocol."""
        return meta

    def final_line(self, plan: FoldPlan, n_folds: int, summary: dict) -> str:
        return (f"{plan.model_name} {plan.split.protocol} ({n_folds} fold(s)): "
                f"{format_summary(summary)}")


def brief(m: dict) -> dict:
    return {k: m[k] for k in (*METRIC_KEYS, "n") if k in m}


def _fold_corpora(plan: FoldPlan, fold) -> tuple[list[dict], list[str]]:
    """Provenance with each corpus's role in ``fold`` and the corpora it trained on: a
    corpus none of whose speakers is in the fold's train or val part (the corpus a
    leave-one-corpus-out fold leaves out) was only tested on."""
    if fold is None:
        return plan.provenance, [p["name"] for p in plan.provenance if p.get("role", "train") != "test"]
    heard = {spk.split(":", 1)[0] for part in ("train", "val") for spk in fold.speakers.get(part, ())}
    prov = [{**p, "role": "test"} if p["name"] not in heard else p for p in plan.provenance]
    return prov, [p["name"] for p in prov if p.get("role", "train") != "test"]


def checkpoint_meta(plan: FoldPlan, fit: FitResult, *, protocol: dict, metrics: dict,
                    confusion: dict, extra: dict | None = None, fold=None) -> CheckpointMeta:
    """The metadata of a checkpoint of ``fit.model`` trained under ``plan`` (on ``fold``)."""
    model, trainer, label_set = fit.model, plan.trainer, plan.label_set
    provenance, trained_on = _fold_corpora(plan, fold)
    return CheckpointMeta(
        model=model.name, num_classes=model.num_classes, labels=list(trainer.labels),
        input_spec=trainer.spec, feature=trainer.feature, model_config=model.config_dict(),
        sample_rate=trainer.sample_rate, normalization=fit.normalization, label_set=label_set.id,
        corpora=provenance, training_corpora=trained_on,
        protocol=protocol, metrics=metrics, confusion_matrix=confusion,
        extra={"label_set_definition": label_set.to_dict(), "recipe": plan.recipe.to_dict(),
               "best_epoch": fit.best_epoch, "trainable_groups": fit.trainable_groups,
               "versions": versions(), "created": now_iso(), **(extra or {})})


def _run_fold(s: Session, plan: FoldPlan, strategy: FoldStrategy, k: int) -> FoldResult:
    fold, trainer = plan.split.folds[k], plan.trainer
    tr, va, te = plan.indices(fold)
    s.progress.emit("fold_start", fold=k, folds=len(plan.fold_ids), train=len(tr), val=len(va),
                    test=len(te), train_segments=len(trainer.bank.segments_of(tr)))
    before = strategy.before(s, plan, te)
    if before is not None:
        s.run.add_predictions(fold.name, plan.items, te, before.probs, plan.labels, stage="before")
    fit = strategy.fit(plan, k, tr, va)
    test = trainer.evaluate(fit.model, te, fit.normalization)
    val = trainer.evaluate(fit.model, va, fit.normalization) if va else None
    s.run.add_predictions(fold.name, plan.items, te, test.probs, plan.labels, stage=strategy.stage)
    s.run.write_history(fold.name, fit.history)
    rec = {"fold": fold.name, "index": k, "test": test.metrics,
           "before": brief(before.metrics) if before else None,
           "val": brief(val.metrics) if val else None,
           "val_loss": val.loss if val else None, "test_loss": test.loss,
           "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
           "stop_reason": fit.stop_reason, "train_seconds": round(fit.train_seconds, 2),
           "train_utterances": fit.train_utterances, "train_segments": fit.train_segments,
           "speakers": {p: list(fold.speakers.get(p, ())) for p in ("train", "val", "test")}}
    result = FoldResult(rec, fit, test, val, before)
    s.progress.fold_finished(plan.fold_ids.index(k), fit.epochs_run)
    s.progress.emit("fold_end", fold=k, folds=len(plan.fold_ids), best_epoch=fit.best_epoch,
                    test=brief(test.metrics), eta_s=s.progress.eta())
    s.progress.line(strategy.fold_line(fold.name, result))
    return result


def _score(plan: FoldPlan, r: FoldResult) -> float | None:
    if r.val is None:
        return None
    monitor = plan.recipe.monitor
    return -r.val.loss if monitor == "loss" else r.val.metrics[monitor]


def run_folds(s: Session, plan: FoldPlan, strategy: FoldStrategy) -> dict:
    """Every fold of ``plan``, then results and the best fold's checkpoint (module docstring)."""
    folds, best, status = [], None, "ok"
    for k in plan.fold_ids:
        r = _run_fold(s, plan, strategy, k)
        folds.append(r.record)
        score = _score(plan, r)
        if s.dist.is_main and (best is None or (score is not None and
                                                (best[0] is None or score > best[0]))):
            best = (score, r, {n: v.detach().cpu().clone()
                               for n, v in r.fit.model.state_dict().items()})
        status = strategy.after_fold(s, plan, plan.split.folds[k], r)
        if status != "ok":
            break
    s.run.write_predictions()
    summary = summarize_folds([r["test"] for r in folds])
    results = {"model": plan.model_name, "labels": plan.labels, "label_set": plan.label_set.id,
               "protocol": plan.protocol_meta, "status": status, "folds": folds,
               "summary": summary, **strategy.results_extra(folds),
               "recipe": plan.recipe.to_dict()}
    if s.dist.is_main and best is not None:
        _save_best(s, plan, strategy, best, folds, summary, results)
    path = s.run.write_results(results)
    s.progress.emit("run_end", status=status, summary={k: summary[k] for k in METRIC_KEYS},
                    elapsed_s=round(time.time() - s.run.started, 2), results=str(path))
    s.progress.line(f"{strategy.final_line(plan, len(folds), summary)}  → {s.run.path}")
    s.run.finish(status, results="results.json",
                 checkpoint="checkpoint" if results.get("checkpoint") else None)
    return results


def _save_best(s: Session, plan: FoldPlan, strategy: FoldStrategy, best, folds: list[dict],
               summary: dict, results: dict) -> None:
    _, r, state = best
    r.fit.model.load_state_dict(state)
    this = r.record
    metrics = {"test": brief(this["test"]), "val": this["val"],
               **({"before": this["before"]} if this["before"] else {}),
               "folds": [{"fold": f["fold"], **brief(f["test"])} for f in folds],
               "mean": {k: summary[k]["mean"] for k in METRIC_KEYS},
               "std": {k: summary[k]["std"] for k in METRIC_KEYS}}
    meta = checkpoint_meta(plan, r.fit, metrics=metrics, extra={"run_dir": str(s.run.path)},
                           fold=plan.split.folds[this["index"]],
                           protocol={**plan.protocol_meta, "fold": this["fold"],
                                     "selected_by": f"best validation {plan.recipe.monitor}"},
                           confusion={"labels": plan.labels, "test": this["test"]["confusion"],
                                      "mean_over_folds": summary.get("confusion")})
    ckpt = save_checkpoint(s.run.path / "checkpoint", r.fit.model, strategy.checkpoint_meta(meta))
    results["checkpoint"] = str(ckpt)
    results["checkpoint_fold"] = this["fold"]
