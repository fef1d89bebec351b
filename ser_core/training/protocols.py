"""Whole protocols from one call: their options, their data, cross-validation and cross-corpus.

* :func:`run_training` — k-fold / leave-one-speaker-out / leave-one-session-out / seed 000's
  scheme / speaker-dependent random split (CV over the folds of
  :func:`ser_core.data.splits.make_split`), or cross-corpus (train on some of ``--corpus``,
  test on the others): trains one model per fold, tests it, writes the run directory
  (:mod:`ser_core.training.rundir`) and a checkpoint.
* fine-tuning (:func:`ser_core.training.finetune.run_finetune`) and evaluation of a checkpoint
  (:mod:`ser_core.training.evaluation`) use the options and data preparation defined here.

Every protocol runs its folds through :func:`ser_core.training.folds.run_folds`;
:class:`CrossValidation` is what is particular to this one (seed 002's rules, per-fold
checkpoints).

Validation split: speaker-independent protocols hold out ``val_speakers`` training speakers
per fold (default 1; seed 000's scheme brings its own); when the data has too few speakers for
that, the fold has no validation split, training runs the full epoch budget and keeps the
last epoch (written in the manifest as ``validation: none``).
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from ser_core.checkpoint import save_checkpoint
from ser_core.errors import ConfigError
from ser_core.models import model_class
from ser_core.models.base import InputSpec
from ser_core.training import resume
from ser_core.training.datasets import SegmentBank, as_items
from ser_core.training.folds import FoldPlan, FoldResult, FoldStrategy, brief, checkpoint_meta, run_folds
from ser_core.training.manifest import corpus_provenance
from ser_core.training.recipes import Recipe, recipe_for
from ser_core.training.session import Session, in_session
from ser_core.training.stopping import Seed002Rules
from ser_core.training.trainer import Trainer

AUTO_VAL_PROTOCOLS = ("leave-one-speaker-out", "speaker-kfold", "leave-one-session-out",
                      "cross-corpus", "leave-one-corpus-out", "final")


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
    #: leave-one-corpus-out: ``val_speakers`` from each training corpus (``--val-per-corpus``)
    val_per_corpus: bool = False
    test_corpora: list[str] = field(default_factory=list)
    seed: int = 0
    #: the speaker split's and subset's seed when it differs from ``seed`` (``--split-seed``)
    split_seed: int | None = None
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

def load_corpora(corpora: Sequence[CorpusArg], labels: str):
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
                test_corpora: Sequence[str] | None = None, val_per_corpus: bool = False):
    """The data layer's split, with a validation part where the data allows one."""
    from ser_core.data.splits import canonical_protocol, make_split

    proto = canonical_protocol(protocol)
    kwargs: dict[str, Any] = dict(folds=folds, seed=seed, train_corpora=train_corpora,
                                  test_corpora=test_corpora)
    if val_per_corpus:
        kwargs["val_per_corpus"] = True
    if proto == "speaker-dependent-random":
        return make_split(utts, proto, val_fraction=0.1, **kwargs), "val_fraction 0.1"
    if proto not in AUTO_VAL_PROTOCOLS:
        return make_split(utts, proto, **kwargs), "protocol's own"
    wanted = 1 if val_speakers is None else int(val_speakers)
    try:
        return (make_split(utts, proto, val_speakers=wanted, **kwargs),
                f"{wanted} speaker(s){' per corpus' if val_per_corpus else ''}")
    except ConfigError:
        if val_speakers is not None or wanted == 0:
            raise
    return make_split(utts, proto, val_speakers=0, **kwargs), "none (too few speakers)"



def labelled_items(utts: list, label_set, opts: TrainOptions, protocol: str,
                   train_corpora: Sequence[str] | None = None,
                   test_corpora: Sequence[str] | None = None):
    """``(split, validation rule, items, fold ids)``: the subset ``opts`` asks for, split by
    ``protocol``, every utterance a fold uses as a training item, the folds to run."""
    split_seed = opts.seed if opts.split_seed is None else opts.split_seed
    utts = subsample(utts, opts.max_speakers, opts.max_utterances, split_seed)
    split, val_rule = build_split(utts, protocol, folds=opts.folds, seed=split_seed,
                                  val_speakers=opts.val_speakers, val_per_corpus=opts.val_per_corpus,
                                  train_corpora=train_corpora,
                                  test_corpora=test_corpora)
    used = sorted({uid for f in split.folds for p in ("train", "val", "test") for uid in f.part(p)})
    by_uid = {u.uid: u for u in utts}
    items = as_items([by_uid[uid] for uid in used], list(label_set.classes))
    fold_ids = [i for i in range(len(split.folds))
                if not opts.only_folds or i in set(opts.only_folds)]
    return split, val_rule, items, fold_ids


def start_run(s: Session, opts: TrainOptions, model: str, spec: InputSpec, label_set,
              provenance: list[dict], split, items: list, fold_ids: list[int], recipe: Recipe,
              config: dict, protocol_name: str) -> SegmentBank:
    """Write the manifest (``config`` plus what every protocol records) and the split,
    announce the run, load the waveforms; returns the segment bank."""
    config = {"model": model, **config, "recipe": recipe.to_dict(),
              "labels": list(label_set.classes), "label_set": label_set.to_dict(),
              "protocol": split.protocol, "protocol_params": dict(split.params),
              "speaker_independent": split.speaker_independent, "folds_run": fold_ids,
              "seed": opts.seed, "split_seed": opts.split_seed, "max_speakers": opts.max_speakers,
              "max_utterances": opts.max_utterances, "device": str(s.device),
              "world_size": s.dist.world_size, "sample_rate": s.sample_rate,
              "split_fingerprint": split.fingerprint, "utterances": len(items)}
    s.run.write_manifest(opts.argv, config, provenance)
    s.run.write_split(split.to_dict())
    s.progress.plan(len(fold_ids), recipe.epochs)
    corpora = [c.name for c in opts.corpora]
    s.progress.emit("run_start", model=model, corpora=corpora, protocol=protocol_name,
                    folds=len(fold_ids), epochs=recipe.epochs, device=str(s.device),
                    world_size=s.dist.world_size)
    s.progress.line(f"{model} on {'+'.join(corpora)} ({label_set.id}, "
                    f"{len(label_set.classes)} classes), {protocol_name}: {len(fold_ids)} "
                    f"fold(s), device {s.device}")
    return s.make_bank(items, spec, trim=recipe.vad_trim)


# -- CV and cross-corpus ----------------------------------------------------------------

class CrossValidation(FoldStrategy):
    """Each fold from scratch; seed 002's rules may abandon the run; fold checkpoints."""

    def __init__(self, opts: TrainOptions, recipe: Recipe) -> None:
        self.opts = opts
        self.rules = Seed002Rules() if recipe.seed002_rules else None

    def after_fold(self, s: Session, plan: FoldPlan, fold, r: FoldResult) -> str:
        if self.opts.save_fold_checkpoints and s.dist.is_main:
            meta = checkpoint_meta(plan, r.fit, protocol={**plan.protocol_meta, "fold": fold.name},
                                   metrics={"test": brief(r.test.metrics)},
                                   confusion={"labels": plan.labels,
                                              "test": r.test.metrics["confusion"]}, fold=fold)
            save_checkpoint(s.run.fold_dir(fold.name), r.fit.model, meta)
        if r.fit.abandoned:
            return "abandoned"
        m = (r.val or r.test).metrics
        if self.rules is not None and self.rules.fold_fails(m["macro_f1"], m["wa"]):
            r.record["stop_reason"] = "C"
            return "abandoned"
        return "ok"


def run_training(opts: TrainOptions) -> dict:
    """Train and test ``opts.model`` under ``opts.protocol``; returns the results dict."""
    return in_session(opts, _run_training)


def _cross_corpus(opts: TrainOptions, provenance: list[dict]):
    """``(train corpora, test corpora)`` of a cross-corpus run (roles noted in provenance)."""
    names = [c.name for c in opts.corpora]
    test_c = list(opts.test_corpora) or names[-1:]
    for p in provenance:
        p["role"] = "test" if p["name"] in test_c else "train"
    return [n for n in names if n not in test_c], test_c


def _run_training(s: Session, opts: TrainOptions) -> dict:
    from ser_core.data.splits import canonical_protocol
    from ser_core.features.pipeline import feature_config
    from ser_core.models import build_config

    spec = model_class(opts.model).input_spec
    recipe = recipe_for(opts.model, **opts.recipe_overrides)
    feature_params = {**spec.params, **opts.feature_overrides}
    feature_config(spec.feature, **feature_params)  # a bad name/value fails here, early
    utts, label_set, provenance = load_corpora(opts.corpora, opts.labels)
    proto = canonical_protocol(opts.protocol)
    train_c, test_c = _cross_corpus(opts, provenance) if proto == "cross-corpus" else (None, None)
    split, val_rule, items, fold_ids = labelled_items(utts, label_set, opts, proto, train_c, test_c)
    config = {"model_config_overrides": opts.model_config,
              "feature_overrides": dict(opts.feature_overrides),
              "model_config": dataclasses.asdict(build_config(opts.model, **opts.model_config)),
              "validation": val_rule, "amp": opts.amp and s.device.type == "cuda",
              "deterministic": opts.deterministic, "input_spec": dataclasses.asdict(spec)}
    bank = start_run(s, opts, opts.model, spec, label_set, provenance, split, items, fold_ids,
                     recipe, config, split.protocol)
    trainer = Trainer(model_name=opts.model, labels=list(label_set.classes), recipe=recipe,
                      bank=bank, spec=spec, sample_rate=s.sample_rate, device=s.device,
                      seed=opts.seed, model_config=opts.model_config, amp=opts.amp,
                      dist_info=s.dist, progress=s.progress, feature_params=feature_params,
                      utt_domain=[it.corpus for it in items])
    trainer.resume_dir = s.run.path / resume.DIRNAME   # a stopped run continues (training.resume)
    trainer.resume_key = resume.run_key(config, split.fingerprint)
    protocol_meta = {"name": split.protocol, "params": dict(split.params),
                     "speaker_independent": split.speaker_independent,
                     "folds": len(split.folds), "seed": opts.seed,
                     "split_fingerprint": split.fingerprint, "validation": val_rule}
    plan = FoldPlan(opts.model, label_set, provenance, items, split, fold_ids, recipe,
                    protocol_meta, trainer)
    results = run_folds(s, plan, CrossValidation(opts, recipe))
    if s.dist.is_main:
        resume.clear(trainer.resume_dir)  # finished: nothing left to resume
    return results
