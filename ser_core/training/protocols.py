"""Whole protocols from one call: cross-validation, cross-corpus, fine-tuning, evaluation.

* :func:`run_training` — k-fold / leave-one-speaker-out / leave-one-session-out / seed 000's
  scheme / speaker-dependent random split (CV over the folds of
  :func:`ser_core.data.splits.make_split`), or cross-corpus (train on some of ``--corpus``,
  test on the others): trains one model per fold, tests it, writes the run directory
  (:mod:`ser_core.training.rundir`) and a checkpoint.
* :func:`run_finetune` — a trained checkpoint on another corpus: per fold of that corpus,
  zero-shot test ("before"), then training of the last k layer groups (seed 000) or of the
  groups seed 002's freeze subset (a)-(g) leaves free, with a new classifier head when the
  label set changes; test again ("after").
* :func:`evaluate_checkpoint` — a checkpoint on a corpus (all of it), metrics and predictions.

Validation split: speaker-independent protocols hold out ``val_speakers`` training speakers
per fold (default 1; seed 000's scheme brings its own); when the data has too few speakers for
that, the fold has no validation split, training runs the full epoch budget and keeps the
last epoch (written in the manifest as ``validation: none``).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.checkpoint import load_checkpoint, save_checkpoint
from ser_core.errors import ConfigError
from ser_core.models import freeze_all_but_last, model_class
from ser_core.training import featurize as fz
from ser_core.training.datasets import Item, SegmentBank, as_items, load_waveforms
from ser_core.training.distributed import (init_distributed, seed_everything,
                                           shutdown_distributed)
from ser_core.training.manifest import corpus_provenance, versions
from ser_core.training.metrics import METRIC_KEYS, format_summary, summarize_folds
from ser_core.training.progress import Progress
from ser_core.training import resume
from ser_core.training.recipes import Recipe, recipe_for
from ser_core.training.rundir import RunDir, now_iso
from ser_core.training.stopping import Seed002Rules
from ser_core.training.trainer import FitResult, Trainer

AUTO_VAL_PROTOCOLS = ("leave-one-speaker-out", "speaker-kfold", "leave-one-session-out",
                      "cross-corpus", "leave-one-corpus-out")


@dataclass
class CorpusArg:
    name: str
    root: str


def parse_corpora(corpus: str, root: str) -> list[CorpusArg]:
    """``--corpus a,b --root A,B`` → pairs (one root may serve one corpus only)."""
    names = [c.strip() for c in str(corpus).split(",") if c.strip()]
    roots = [r.strip() for r in str(root).split(",") if r.strip()]
    if not names:
        raise ConfigError("give at least one corpus with --corpus.")
    if len(names) != len(roots):
        raise ConfigError(f"--corpus names {len(names)} corpora but --root gives {len(roots)} "
                          "folders; give one root per corpus, in the same order.")
    from ser_core.data.registry import canonical_name

    return [CorpusArg(canonical_name(n), r) for n, r in zip(names, roots)]


@dataclass
class TrainOptions:
    model: str
    corpora: list[CorpusArg]
    out: str
    labels: str = "native"
    protocol: str = "speaker-kfold"
    folds: int | None = None
    val_speakers: int | None = None
    test_corpora: list[str] = field(default_factory=list)
    seed: int = 0
    device: str | None = None
    recipe_overrides: dict = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    #: feature config overrides on top of the model's ``input_spec.params`` (``--feature-set``),
    #: e.g. ``{"lowpass_hz": 5500}``; recorded in the checkpoint, so inference applies them too
    feature_overrides: dict = field(default_factory=dict)
    max_speakers: int | None = None
    max_utterances: int | None = None
    amp: bool = True
    deterministic: bool = True
    save_fold_checkpoints: bool = False
    only_folds: list[int] | None = None
    quiet: bool = False
    argv: list[str] = field(default_factory=list)


@dataclass
class FinetuneOptions(TrainOptions):
    checkpoint: str = ""
    unfreeze_last: int | None = None
    freeze_subset: str | None = None
    unfreeze_groups: list[str] | None = None
    new_head: bool = False
    freeze_bn_stats: bool = True
    renormalize: bool = False


# -- data -------------------------------------------------------------------------------

def load_labelled(corpora: Sequence[CorpusArg], labels: str):
    """Load every corpus and map it to the label set (``ser_core.data.selection``).

    Returns ``(utterances, LabelSet, provenance)``; provenance (one dict per corpus: name,
    root, files, license, citation, what the label set dropped) goes into the run manifest
    and the checkpoint."""
    from ser_core.data.selection import load_labeled

    data = load_labeled([c.name for c in corpora], [c.root for c in corpora], labels)
    provenance = []
    for listing in data.listings:
        prov = corpus_provenance(listing.corpus, listing.root, files=len(listing.utterances))
        prov["speakers"] = len(listing.speakers)
        prov["skipped"] = len(listing.skipped)
        prov["label_mapping"] = data.label_set.describe(listing.corpus)
        prov["dropped_by_label_set"] = data.dropped.get(listing.corpus, {})
        prov["used"] = sum(1 for u in data.utterances if u.corpus == listing.corpus)
        provenance.append(prov)
    return list(data.utterances), data.label_set, provenance


def subsample(utts: list, max_speakers: int | None, max_utterances: int | None, seed: int) -> list:
    """A small deterministic subset: the first ``max_speakers`` speakers of each corpus (in a
    seeded order) and at most ``max_utterances`` utterances in all, spread evenly over the
    speakers and, within a speaker, round-robin over labels."""
    if not max_speakers and not max_utterances:
        return utts
    rng = random.Random(f"subset:{seed}")
    by_corpus: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for u in utts:
        by_corpus[u.corpus][u.speaker_key].append(u)
    speakers: list[str] = []
    by_speaker: dict[str, list] = {}
    for corpus in sorted(by_corpus):
        spk = sorted(by_corpus[corpus])
        rng.shuffle(spk)
        if max_speakers:
            spk = spk[:max_speakers]
        for s in sorted(spk):
            speakers.append(s)
            by_speaker[s] = by_corpus[corpus][s]
    if not max_utterances:
        return sorted((u for s in speakers for u in by_speaker[s]), key=lambda u: u.uid)
    per = max(1, max_utterances // max(1, len(speakers)))
    chosen = []
    all_labels = sorted({u.label for u in utts})
    for i, s in enumerate(speakers):
        by_label: dict[str, list] = defaultdict(list)
        for u in sorted(by_speaker[s], key=lambda u: u.uid):
            by_label[u.label].append(u)
        for lst in by_label.values():
            rng.shuffle(lst)
        # start each speaker at another label so that small subsets still cover the classes
        shift = (i * per) % max(1, len(all_labels))
        labels = [l for l in all_labels[shift:] + all_labels[:shift] if l in by_label]
        picked = []
        while len(picked) < per and any(by_label[l] for l in labels):
            for l in labels:
                if by_label[l] and len(picked) < per:
                    picked.append(by_label[l].pop())
        chosen.extend(picked)
    return sorted(chosen, key=lambda u: u.uid)


def build_split(utts: list, protocol: str, *, folds: int | None, seed: int,
                val_speakers: int | None, train_corpora: Sequence[str] | None = None,
                test_corpora: Sequence[str] | None = None):
    """The data layer's split, with a validation part where the data allows one."""
    from ser_core.data.splits import canonical_protocol, make_split

    proto = canonical_protocol(protocol)
    kwargs: dict[str, Any] = dict(folds=folds, seed=seed, train_corpora=train_corpora,
                                  test_corpora=test_corpora)
    if proto == "speaker-dependent-random":
        return make_split(utts, proto, val_fraction=0.1, **kwargs), "val_fraction 0.1"
    if proto not in AUTO_VAL_PROTOCOLS:
        return make_split(utts, proto, **kwargs), "protocol's own"
    wanted = 1 if val_speakers is None else int(val_speakers)
    try:
        return make_split(utts, proto, val_speakers=wanted, **kwargs), f"{wanted} speaker(s)"
    except ConfigError:
        if val_speakers is not None or wanted == 0:
            raise
    return make_split(utts, proto, val_speakers=0, **kwargs), "none (too few speakers)"


# -- helpers ----------------------------------------------------------------------------

def _bank_device(n_samples: int, device: torch.device) -> torch.device:
    if device.type != "cuda":
        return device
    free = torch.cuda.mem_get_info(device)[0]
    return device if n_samples * 4 < 0.25 * free else torch.device("cpu")


def _metrics_brief(m: dict) -> dict:
    return {k: m[k] for k in (*METRIC_KEYS, "n") if k in m}


class _Session:
    """What every protocol needs: distributed setup, run dir, progress, data, bank."""

    def __init__(self, opts: TrainOptions) -> None:
        self.opts = opts
        _sigterm_as_interrupt()
        self.dist, self.device = init_distributed(opts.device)
        seed_everything(opts.seed, opts.deterministic)
        self.run = RunDir(opts.out, active=self.dist.is_main)
        self.progress = Progress(self.run.progress_path, active=self.dist.is_main,
                                 quiet=opts.quiet)
        self.sample_rate = DEFAULT_SAMPLE_RATE

    def make_bank(self, items: list[Item], spec, trim: bool = False) -> SegmentBank:
        t0 = time.time()
        waves = load_waveforms([it.path for it in items], self.sample_rate)
        if trim:  # the recipe's vad_trim: speech only, as the inference service cuts it
            from ser_core.vad import trim_waveforms

            waves = trim_waveforms(waves, self.sample_rate)
        total = sum(int(w.shape[0]) for w in waves)
        bank = SegmentBank(waves, [it.y for it in items], self.sample_rate, spec.segment_s,
                           spec.hop_s, device=_bank_device(total, self.device))
        self.progress.line(f"loaded {len(items)} utterances ({total / self.sample_rate / 60:.1f} "
                           f"min, {bank.n_segments} segments) in {time.time() - t0:.1f} s")
        return bank

    def close(self) -> None:
        self.progress.close()
        shutdown_distributed()


def _sigterm_as_interrupt() -> None:
    """``jobs cancel`` sends SIGTERM: turn it into KeyboardInterrupt so the run directory is
    closed properly (``run.json`` status ``cancelled``, an ``error`` progress line)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        # once: a cancel can deliver SIGTERM twice (the job's supervisor and `jobs cancel`
        # both signal the group), and a second KeyboardInterrupt raised while the first is
        # being recorded would break off that clean-up (a traceback or exit 143 instead of
        # the CLI's "interrupted", 130);
        # a command that hangs still gets SIGKILL after the grace period
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        pass


def _fail(s: "_Session", exc: BaseException) -> None:
    status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    message = "cancelled" if status == "cancelled" else f"{type(exc).__name__}: {exc}"
    s.progress.emit("error", message=message)
    s.run.finish(status, error=message)


def _indices(split, fold, uid_index: dict[str, int]) -> tuple[list[int], list[int], list[int]]:
    return tuple([uid_index[u] for u in fold.part(p)] for p in ("train", "val", "test"))  # type: ignore


def _checkpoint_meta(*, model, trainer: Trainer, label_set, provenance: list[dict],
                     protocol: dict, fit: FitResult | None, normalization, recipe: Recipe,
                     metrics: dict, confusion: dict, extra: dict | None = None) -> dict:
    meta = {
        "model": model.name,
        "model_config": model.config_dict(),
        "num_classes": model.num_classes,
        "labels": list(trainer.labels),
        "label_set": label_set.id,
        "label_set_definition": label_set.to_dict(),
        **fz.feature_meta(trainer.spec, trainer.sample_rate),
        "normalization": normalization,
        "corpora": provenance,
        "training_corpora": [p["name"] for p in provenance if p.get("role", "train") != "test"],
        "protocol": protocol,
        "recipe": recipe.to_dict(),
        "metrics": metrics,
        "confusion_matrix": confusion,
        "best_epoch": fit.best_epoch if fit else None,
        "trainable_groups": fit.trainable_groups if fit else None,
        "versions": versions(),
        "created": now_iso(),
    }
    meta["feature"]["config"] = fz.resolved_feature_config(trainer.spec.feature,
                                                           trainer.meta_spec["feature"]["config"])
    if extra:
        meta.update(extra)
    return meta


# -- CV and cross-corpus ----------------------------------------------------------------

def _in_session(opts, body) -> dict:
    """Run ``body(session, opts)`` in a run session; a failure is recorded in the run folder."""
    s = _Session(opts)
    try:
        return body(s, opts)
    except BaseException as exc:
        _fail(s, exc)
        raise
    finally:
        s.close()


def run_training(opts: TrainOptions) -> dict:
    """Train and test ``opts.model`` under ``opts.protocol``; returns the results dict."""
    return _in_session(opts, _run_training)


def _run_training(s: _Session, opts: TrainOptions) -> dict:
    cls = model_class(opts.model)
    spec = cls.input_spec
    recipe = recipe_for(opts.model, **opts.recipe_overrides)
    utts, label_set, provenance = load_labelled(opts.corpora, opts.labels)
    utts = subsample(utts, opts.max_speakers, opts.max_utterances, opts.seed)
    from ser_core.data.splits import canonical_protocol

    proto = canonical_protocol(opts.protocol)
    train_c = test_c = None
    if proto == "cross-corpus":
        names = [c.name for c in opts.corpora]
        test_c = [c for c in opts.test_corpora] or names[-1:]
        train_c = [n for n in names if n not in test_c]
        for p in provenance:
            p["role"] = "test" if p["name"] in test_c else "train"
    split, val_rule = build_split(utts, proto, folds=opts.folds, seed=opts.seed,
                                  val_speakers=opts.val_speakers, train_corpora=train_c,
                                  test_corpora=test_c)
    used = sorted({uid for f in split.folds for p in ("train", "val", "test") for uid in f.part(p)})
    by_uid = {u.uid: u for u in utts}
    labels = list(label_set.classes)
    items = as_items([by_uid[uid] for uid in used], labels)
    uid_index = {it.uid: i for i, it in enumerate(items)}
    fold_ids = list(range(len(split.folds)))
    if opts.only_folds:
        fold_ids = [i for i in fold_ids if i in set(opts.only_folds)]
    from ser_core.models import build_config

    feature_params = {**spec.params, **opts.feature_overrides}
    if opts.feature_overrides:
        from ser_core.features.pipeline import feature_config

        feature_config(spec.feature, **feature_params)  # a bad name/value fails here, early
    config = {"model": opts.model, "model_config_overrides": opts.model_config,
              "feature_overrides": dict(opts.feature_overrides),
              "model_config": dataclasses.asdict(build_config(opts.model, **opts.model_config)),
              "recipe": recipe.to_dict(), "labels": labels, "label_set": label_set.to_dict(),
              "protocol": split.protocol, "protocol_params": dict(split.params),
              "speaker_independent": split.speaker_independent, "validation": val_rule,
              "folds_run": fold_ids, "seed": opts.seed, "max_speakers": opts.max_speakers,
              "max_utterances": opts.max_utterances, "device": str(s.device),
              "amp": opts.amp and s.device.type == "cuda", "deterministic": opts.deterministic,
              "world_size": s.dist.world_size, "sample_rate": s.sample_rate,
              "input_spec": dataclasses.asdict(spec), "split_fingerprint": split.fingerprint,
              "utterances": len(items)}
    s.run.write_manifest(opts.argv, config, provenance)
    s.run.write_split(split.to_dict())
    s.progress.plan(len(fold_ids), recipe.epochs)
    s.progress.emit("run_start", model=opts.model, corpora=[c.name for c in opts.corpora],
                    protocol=split.protocol, folds=len(fold_ids), epochs=recipe.epochs,
                    device=str(s.device), world_size=s.dist.world_size)
    s.progress.line(f"{opts.model} on {'+'.join(c.name for c in opts.corpora)} "
                    f"({label_set.id}, {len(labels)} classes), {split.protocol}: "
                    f"{len(fold_ids)} fold(s), device {s.device}")
    bank = s.make_bank(items, spec, trim=recipe.vad_trim)
    trainer = Trainer(model_name=opts.model, labels=labels, recipe=recipe, bank=bank, spec=spec,
                      sample_rate=s.sample_rate, device=s.device, seed=opts.seed,
                      model_config=opts.model_config, amp=opts.amp, dist_info=s.dist,
                      progress=s.progress, feature_params=feature_params)
    trainer.resume_dir = s.run.path / resume.DIRNAME   # a stopped run continues (training.resume)
    trainer.resume_key = resume.run_key(config, split.fingerprint)
    rules = Seed002Rules() if recipe.seed002_rules else None
    fold_results, best = [], None
    status = "ok"
    protocol_meta = {"name": split.protocol, "params": dict(split.params),
                     "speaker_independent": split.speaker_independent,
                     "folds": len(split.folds), "seed": opts.seed,
                     "split_fingerprint": split.fingerprint, "validation": val_rule}
    for k in fold_ids:
        fold = split.folds[k]
        tr, va, te = _indices(split, fold, uid_index)
        s.progress.emit("fold_start", fold=k, folds=len(fold_ids), train=len(tr), val=len(va),
                        test=len(te), train_segments=len(bank.segments_of(tr)))
        fit = trainer.fit(k, tr, va)
        test = trainer.evaluate(fit.model, te, fit.normalization)
        val = trainer.evaluate(fit.model, va, fit.normalization) if va else None
        s.run.add_predictions(fold.name, items, te, test.probs, labels)
        s.run.write_history(fold.name, fit.history)
        rec = {"fold": fold.name, "index": k, "test": test.metrics,
               "val": _metrics_brief(val.metrics) if val else None,
               "val_loss": val.loss if val else None, "test_loss": test.loss,
               "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
               "stop_reason": fit.stop_reason, "train_seconds": round(fit.train_seconds, 2),
               "train_utterances": fit.train_utterances, "train_segments": fit.train_segments,
               "speakers": {p: list(fold.speakers.get(p, ())) for p in ("train", "val", "test")}}
        fold_results.append(rec)
        score = (val.metrics[recipe.monitor] if recipe.monitor != "loss" else -val.loss) \
            if val else None
        s.progress.fold_finished(fold_ids.index(k), fit.epochs_run)
        s.progress.emit("fold_end", fold=k, folds=len(fold_ids), best_epoch=fit.best_epoch,
                        test=_metrics_brief(test.metrics), eta_s=s.progress.eta())
        s.progress.line(f"fold {fold.name}: test WA {100 * test.metrics['wa']:.2f} UA "
                        f"{100 * test.metrics['ua']:.2f} WF1 {100 * test.metrics['weighted_f1']:.2f}"
                        f" MF1 {100 * test.metrics['macro_f1']:.2f} (best epoch {fit.best_epoch})")
        if s.dist.is_main and (best is None or (score is not None and
                                                (best[0] is None or score > best[0]))):
            best = (score, k, fit, {k2: v.detach().cpu().clone()
                                    for k2, v in fit.model.state_dict().items()})
        if opts.save_fold_checkpoints and s.dist.is_main:
            meta = _checkpoint_meta(model=fit.model, trainer=trainer, label_set=label_set,
                                    provenance=provenance, protocol={**protocol_meta,
                                                                     "fold": fold.name},
                                    fit=fit, normalization=fit.normalization, recipe=recipe,
                                    metrics={"test": _metrics_brief(test.metrics)},
                                    confusion={"labels": labels, "test": test.metrics["confusion"]})
            save_checkpoint(s.run.fold_dir(fold.name), fit.model, meta)
        if fit.abandoned:
            status = "abandoned"
            break
        if rules is not None:
            m = val.metrics if val else test.metrics
            if rules.fold_fails(m["macro_f1"], m["wa"]):
                status = "abandoned"
                rec["stop_reason"] = "C"
                break
    s.run.write_predictions()
    summary = summarize_folds([r["test"] for r in fold_results])
    results = {"model": opts.model, "labels": labels, "label_set": label_set.id,
               "protocol": protocol_meta, "status": status, "folds": fold_results,
               "summary": summary, "recipe": recipe.to_dict()}
    ckpt_dir = None
    if s.dist.is_main and best is not None:
        _, k_best, fit, state = best
        fit.model.load_state_dict(state)
        this = next(r for r in fold_results if r["index"] == k_best)
        metrics = {"test": _metrics_brief(this["test"]), "val": this["val"],
                   "folds": [{"fold": r["fold"], **_metrics_brief(r["test"])} for r in fold_results],
                   "mean": {k: summary[k]["mean"] for k in METRIC_KEYS},
                   "std": {k: summary[k]["std"] for k in METRIC_KEYS}}
        meta = _checkpoint_meta(model=fit.model, trainer=trainer, label_set=label_set,
                                provenance=provenance,
                                protocol={**protocol_meta, "fold": this["fold"],
                                          "selected_by": f"best validation {recipe.monitor}"},
                                fit=fit, normalization=fit.normalization, recipe=recipe,
                                metrics=metrics,
                                confusion={"labels": labels, "test": this["test"]["confusion"],
                                           "mean_over_folds": summary.get("confusion")},
                                extra={"run_dir": str(s.run.path)})
        ckpt_dir = save_checkpoint(s.run.path / "checkpoint", fit.model, meta)
        results["checkpoint"] = str(ckpt_dir)
        results["checkpoint_fold"] = this["fold"]
    path = s.run.write_results(results)
    s.progress.emit("run_end", status=status, summary={k: summary[k] for k in METRIC_KEYS},
                    elapsed_s=round(time.time() - s.run.started, 2), results=str(path))
    s.progress.line(f"{opts.model} {split.protocol} ({len(fold_results)} fold(s)): "
                    f"{format_summary(summary)}  → {s.run.path}")
    s.run.finish(status, results="results.json",
                 checkpoint="checkpoint" if ckpt_dir else None)
    if s.dist.is_main:
        resume.clear(trainer.resume_dir)  # finished: nothing left to resume
    return results


# -- fine-tuning ------------------------------------------------------------------------

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
        try:
            from ser_core.models.spectral_cnns import FREEZE_SUBSETS, frozen_groups
        except ImportError:
            raise ConfigError("freeze subsets (a)-(g) need the seed 002 models.") from None
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


def run_finetune(opts: FinetuneOptions) -> dict:
    """Fine-tune ``opts.checkpoint`` on the target corpora under the protocol; results dict."""
    return _in_session(opts, _run_finetune)


def _auto_labels(ckpt_meta: dict, corpora: Sequence[CorpusArg]) -> str:
    """The checkpoint's label set when it maps every target corpus, else the native set."""
    from ser_core.data.labels import get_label_set

    name = ckpt_meta.get("label_set")
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


def _run_finetune(s: _Session, opts: FinetuneOptions) -> dict:
    src_model, src_meta = load_checkpoint(opts.checkpoint, device="cpu")
    model_name = src_meta["model"]
    spec, _, _ = fz.spec_from_meta(src_meta) if src_meta.get("input_spec") else \
        (type(src_model).input_spec, None, None)
    labels_name = opts.labels if opts.labels not in (None, "", "auto") else \
        _auto_labels(src_meta, opts.corpora)
    utts, label_set, provenance = load_labelled(opts.corpora, labels_name)
    utts = subsample(utts, opts.max_speakers, opts.max_utterances, opts.seed)
    labels = list(label_set.classes)
    same_head = list(src_meta["labels"]) == labels and not opts.new_head
    recipe = recipe_for(model_name, **opts.recipe_overrides)
    probe = src_model
    trainable = _finetune_groups(probe, opts)
    split, val_rule = build_split(utts, opts.protocol, folds=opts.folds, seed=opts.seed,
                                  val_speakers=opts.val_speakers)
    used = sorted({uid for f in split.folds for p in ("train", "val", "test") for uid in f.part(p)})
    by_uid = {u.uid: u for u in utts}
    items = as_items([by_uid[uid] for uid in used], labels)
    uid_index = {it.uid: i for i, it in enumerate(items)}
    fold_ids = list(range(len(split.folds)))
    if opts.only_folds:
        fold_ids = [i for i in fold_ids if i in set(opts.only_folds)]
    src_norm = src_meta.get("normalization")
    config = {"checkpoint": str(Path(opts.checkpoint).resolve()), "source_model": model_name,
              "source_labels": src_meta["labels"], "source_label_set": src_meta.get("label_set"),
              "source_corpora": src_meta.get("training_corpora"),
              "labels": labels, "label_set": label_set.to_dict(), "new_head": not same_head,
              "trainable_groups": trainable, "unfreeze_last": opts.unfreeze_last,
              "freeze_subset": opts.freeze_subset, "freeze_bn_stats": opts.freeze_bn_stats,
              "normalization": "recomputed" if opts.renormalize else "from checkpoint",
              "recipe": recipe.to_dict(), "protocol": split.protocol,
              "protocol_params": dict(split.params), "validation": val_rule,
              "folds_run": fold_ids, "seed": opts.seed, "device": str(s.device),
              "max_speakers": opts.max_speakers, "max_utterances": opts.max_utterances,
              "utterances": len(items), "split_fingerprint": split.fingerprint}
    s.run.write_manifest(opts.argv, config, provenance)
    s.run.write_split(split.to_dict())
    s.progress.plan(len(fold_ids), recipe.epochs)
    s.progress.emit("run_start", model=model_name, corpora=[c.name for c in opts.corpora],
                    protocol=f"finetune/{split.protocol}", folds=len(fold_ids),
                    epochs=recipe.epochs, device=str(s.device), world_size=s.dist.world_size)
    bank = s.make_bank(items, spec, trim=recipe.vad_trim)
    trainer = Trainer(model_name=model_name, labels=labels, recipe=recipe, bank=bank, spec=spec,
                      sample_rate=int(src_meta.get("sample_rate") or s.sample_rate),
                      device=s.device, seed=opts.seed, model_config=src_meta.get("model_config"),
                      amp=opts.amp, dist_info=s.dist, progress=s.progress,
                      feature_params=(src_meta.get("feature") or {}).get("config"))
    src_state = {k: v.detach().cpu() for k, v in src_model.state_dict().items()}
    fold_results, best = [], None
    protocol_meta = {"name": f"finetune/{split.protocol}", "params": dict(split.params),
                     "speaker_independent": split.speaker_independent, "seed": opts.seed,
                     "split_fingerprint": split.fingerprint, "trainable_groups": trainable,
                     "source_checkpoint": str(Path(opts.checkpoint).resolve()),
                     "source_corpora": src_meta.get("training_corpora")}
    for k in fold_ids:
        fold = split.folds[k]
        tr, va, te = _indices(split, fold, uid_index)
        s.progress.emit("fold_start", fold=k, folds=len(fold_ids), train=len(tr), val=len(va),
                        test=len(te), train_segments=len(bank.segments_of(tr)))
        before = None
        if same_head:
            zero = trainer.build_model(src_state, init_num_classes=len(src_meta["labels"]))
            before = trainer.evaluate(zero, te, src_norm)
            s.run.add_predictions(fold.name, items, te, before.probs, labels, stage="before")
            del zero
        fit = trainer.fit(k, tr, va, init_state=src_state,
                          init_num_classes=len(src_meta["labels"]), reset_head=not same_head,
                          trainable_groups=trainable,
                          fixed_normalization=None if opts.renormalize else (src_norm or {}),
                          freeze_bn_stats=opts.freeze_bn_stats)
        after = trainer.evaluate(fit.model, te, fit.normalization)
        val = trainer.evaluate(fit.model, va, fit.normalization) if va else None
        s.run.add_predictions(fold.name, items, te, after.probs, labels, stage="after")
        s.run.write_history(fold.name, fit.history)
        rec = {"fold": fold.name, "index": k, "test": after.metrics,
               "before": _metrics_brief(before.metrics) if before else None,
               "val": _metrics_brief(val.metrics) if val else None,
               "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
               "stop_reason": fit.stop_reason, "train_seconds": round(fit.train_seconds, 2),
               "speakers": {p: list(fold.speakers.get(p, ())) for p in ("train", "val", "test")}}
        fold_results.append(rec)
        s.progress.fold_finished(fold_ids.index(k), fit.epochs_run)
        s.progress.emit("fold_end", fold=k, folds=len(fold_ids), best_epoch=fit.best_epoch,
                        test=_metrics_brief(after.metrics), eta_s=s.progress.eta())
        btxt = f" (before {100 * before.metrics['ua']:.2f})" if before else ""
        s.progress.line(f"fold {fold.name}: fine-tuned test UA {100 * after.metrics['ua']:.2f}"
                        f"{btxt} WA {100 * after.metrics['wa']:.2f}")
        score = (val.metrics[recipe.monitor] if recipe.monitor != "loss" else -val.loss) \
            if val else None
        if s.dist.is_main and (best is None or (score is not None and
                                                (best[0] is None or score > best[0]))):
            best = (score, k, fit, {k2: v.detach().cpu().clone()
                                    for k2, v in fit.model.state_dict().items()})
    s.run.write_predictions()
    summary = summarize_folds([r["test"] for r in fold_results])
    before_summary = (summarize_folds([dict(r["before"], confusion=[[0]], confusion_counts=[[0]])
                                       for r in fold_results])
                      if fold_results and all(r["before"] for r in fold_results) else None)
    if before_summary:
        before_summary = {k: before_summary[k] for k in METRIC_KEYS}
    results = {"model": model_name, "labels": labels, "label_set": label_set.id,
               "protocol": protocol_meta, "status": "ok", "folds": fold_results,
               "summary": summary, "summary_before": before_summary, "recipe": recipe.to_dict()}
    if s.dist.is_main and best is not None:
        _, k_best, fit, state = best
        fit.model.load_state_dict(state)
        this = next(r for r in fold_results if r["index"] == k_best)
        metrics = {"test": _metrics_brief(this["test"]), "val": this["val"],
                   "before": this["before"],
                   "folds": [{"fold": r["fold"], **_metrics_brief(r["test"])} for r in fold_results],
                   "mean": {k: summary[k]["mean"] for k in METRIC_KEYS},
                   "std": {k: summary[k]["std"] for k in METRIC_KEYS}}
        src_prov = src_meta.get("corpora") or []
        meta = _checkpoint_meta(model=fit.model, trainer=trainer, label_set=label_set,
                                provenance=[*({**p, "role": "pretraining"} for p in src_prov),
                                            *provenance],
                                protocol={**protocol_meta, "fold": this["fold"]}, fit=fit,
                                normalization=fit.normalization, recipe=recipe, metrics=metrics,
                                confusion={"labels": labels, "test": this["test"]["confusion"],
                                           "mean_over_folds": summary.get("confusion")},
                                extra={"run_dir": str(s.run.path),
                                       "finetuned_from": str(Path(opts.checkpoint).resolve())})
        meta["training_corpora"] = [*(src_meta.get("training_corpora") or []),
                                    *[c.name for c in opts.corpora]]
        results["checkpoint"] = str(save_checkpoint(s.run.path / "checkpoint", fit.model, meta))
    path = s.run.write_results(results)
    s.progress.emit("run_end", status="ok", summary={k: summary[k] for k in METRIC_KEYS},
                    elapsed_s=round(time.time() - s.run.started, 2), results=str(path))
    s.progress.line(f"fine-tuned {model_name} ({', '.join(trainable)} trainable): "
                    f"{format_summary(summary)}  → {s.run.path}")
    s.run.finish("ok", results="results.json", checkpoint="checkpoint")
    return results


# -- evaluation -------------------------------------------------------------------------

def evaluate_items(models: Sequence[torch.nn.Module], meta: dict, items: list[Item],
                   device: torch.device):
    """Utterance posteriors (:class:`~ser_core.training.trainer.EvalResult`) of each of
    ``models`` (same architecture and input as the checkpoint ``meta``) on ``items``; the
    audio is decoded and featurized once for all of them."""
    spec = fz.spec_from_meta(meta)[0] if meta.get("input_spec") else type(models[0]).input_spec
    sr = int(meta.get("sample_rate") or DEFAULT_SAMPLE_RATE)
    waves = load_waveforms([it.path for it in items], sr)
    if (meta.get("recipe") or {}).get("vad_trim"):
        from ser_core.vad import trim_waveforms

        waves = trim_waveforms(waves, sr)
    bank = SegmentBank(waves, [it.y for it in items], sr, spec.segment_s, spec.hop_s,
                       device=device)
    trainer = Trainer(model_name=meta["model"], labels=list(meta["labels"]), recipe=Recipe(),
                      bank=bank, spec=spec, sample_rate=sr, device=device,
                      model_config=meta.get("model_config"), progress=Progress(None, active=False),
                      feature_params=(meta.get("feature") or {}).get("config"))
    every = list(range(len(items)))
    return [trainer.evaluate(m, every, meta.get("normalization")) for m in models]


def evaluate_checkpoint(checkpoint: str | Path, corpora: Sequence[CorpusArg], *,
                        labels: str | None = None, device: str | None = None,
                        max_speakers: int | None = None, max_utterances: int | None = None,
                        seed: int = 0, out: str | Path | None = None, quiet: bool = True,
                        argv: Sequence[str] | None = None) -> dict:
    """Test a checkpoint on whole corpora (every utterance its label set keeps)."""
    from ser_core.training.distributed import resolve_device
    from ser_core.training.metrics import classification_metrics

    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, device=dev)
    ck_labels = list(meta["labels"])
    labels_name = labels or _auto_labels(meta, corpora)
    utts, label_set, provenance = load_labelled(corpora, labels_name)
    unknown = sorted(set(label_set.classes) - set(ck_labels))
    if unknown:
        raise ConfigError(f"label set {label_set.id} has classes the checkpoint does not know: "
                          f"{', '.join(unknown)} (checkpoint labels: {', '.join(ck_labels)}).")
    utts = subsample(utts, max_speakers, max_utterances, seed)
    items = as_items(utts, ck_labels)
    t0 = time.time()
    res = evaluate_items([model], meta, items, dev)[0]
    seconds = time.time() - t0
    present = sorted({it.y for it in items})
    metrics = classification_metrics(res.y_true, res.y_pred, len(ck_labels), ck_labels)
    result = {"checkpoint": str(Path(checkpoint).resolve()), "model": meta["model"],
              "corpora": [c.name for c in corpora], "label_set": label_set.id,
              "labels": ck_labels, "classes_present": [ck_labels[i] for i in present],
              "utterances": len(items), "metrics": metrics, "loss": res.loss,
              "seconds": round(seconds, 3), "device": str(dev)}
    if out is not None:
        run = RunDir(out)
        run.write_manifest(argv, {"checkpoint": result["checkpoint"], "labels": ck_labels,
                                  "label_set": label_set.to_dict(), "device": str(dev),
                                  "max_speakers": max_speakers, "max_utterances": max_utterances,
                                  "seed": seed}, provenance)
        run.add_predictions("all", items, list(range(len(items))), res.probs, ck_labels)
        run.write_predictions()
        run.write_results(result)
        run.finish("ok", results="results.json")
        result["out"] = str(run.path)
    return result
