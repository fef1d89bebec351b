"""One trainer for every model of the zoo.

What it does, per fold (``Trainer.fit``):

* builds the model (``create_model(name, num_classes, **model_config)``), optionally loads
  weights, replaces the classifier head and freezes layer groups (fine-tuning);
* seeds everything from ``seed`` and the fold number, so a run is repeatable: model init,
  batch order, dropout and augmentation all come from seeded generators;
* trains on *segments* (``model.input_spec.segment_s`` / ``hop_s``; every segment carries its
  utterance's label) drawn from a :class:`~ser_core.training.datasets.SegmentBank` that
  lives on the training device; features are computed on the device in batches
  (:mod:`ser_core.checkpoint.inputs`) and cached for the whole run when the training batch
  needs no augmentation (validation/test features are always cached);
* on-the-fly augmentation (``recipe.augment``) touches training batches only, and so do
  SpecAugment's masks (``recipe.spec_mask``; :func:`spec_mask_batch`) and mixup
  (``recipe.mixup_alpha``; :func:`mixup_batch`), both on the features after normalisation;
* class imbalance: ``recipe.balance`` = ``weighted_loss`` (cross-entropy weighted by
  ``n / (K · n_c)`` over the training segments) or ``sampler`` (segments drawn with
  probability ∝ 1 / n_c), ``corpus_sampler`` (probability ∝ 1 / (n_{d,c} · m_c) for corpus
  ``d`` and the ``m_c`` corpora that have class ``c``: equal mass per class, and within a class
  per corpus, so the largest corpus does not set what a class sounds like; ``utt_domain``
  gives each bank utterance's corpus) or ``none``;
* mixed precision: bf16 autocast on CUDA (``amp``), fp32 on CPU;
* evaluates every epoch on the validation utterances (utterance posterior = the model's
  ``aggregation`` of its segments' softmax outputs; validation loss = mean segment
  cross-entropy), stops early on ``recipe.patience`` (and seed 002's rules when asked) and
  keeps the best epoch's weights;
* feature normalisation (``recipe.normalize``, ACRNN's training-set mean/std): statistics
  from the training split's segments only (clean, un-augmented features), applied to every
  split and saved in the checkpoint (details in :mod:`ser_core.checkpoint.inputs`)::

      meta.normalization = None    # or
      {"type": "mean_std", "over": ["segments", "time"], "eps": 1e-5,
       "inputs": {"x": {"shape": [3, 40], "mean": [[...], ...], "std": [[...], ...]}}}

  ``"x"`` names a single-tensor input; dict inputs use their keys. For an input
  ``(batch, *S, time)`` mean/std have shape ``S`` and are applied as
  ``(x - mean[..., None]) / (std[..., None] + eps)``. Training and inference both compute the
  features of the checkpoint's ``feature`` on the segments' device, then apply its
  ``normalization``, with the functions of :mod:`ser_core.checkpoint.inputs`
  (:func:`~ser_core.checkpoint.prepare_batch` at inference), so they cannot drift apart;
* under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DistributedDataParallel and
  each rank trains on its shard of each epoch's batches (:mod:`~ser_core.training.distributed`).

Progress goes to the terminal (a bar per epoch) and to ``progress.jsonl`` — its schema is in
:mod:`ser_core.training.progress`.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ser_core.checkpoint import inputs as fz
from ser_core.checkpoint.meta import FeatureMeta
from ser_core.features.segments import aggregate_posteriors, keep_padding
from ser_core.models import create_model, set_trainable_groups
from ser_core.models.base import InputSpec, SERModel
from ser_core.training import resume
from ser_core.training.augment import augment_batch, parse_augment
from ser_core.training.datasets import SegmentBank
from ser_core.training.distributed import DistInfo
from ser_core.training.metrics import classification_metrics
from ser_core.training.optimization import (TrainModule, build_optimizer, build_scheduler,
                                            class_weights, corpus_class_weights, mixup_batch,
                                            spec_mask_batch)
from ser_core.training.progress import Progress
from ser_core.training.recipes import Recipe
from ser_core.training.stopping import EarlyStopping, Seed002Rules

EVAL_BATCH = 128


@dataclass
class EvalResult:
    """Utterance-level predictions of one split."""

    utt_indices: list[int]
    y_true: np.ndarray
    probs: np.ndarray  # (n_utts, num_classes)
    loss: float  # mean segment cross-entropy (unweighted)
    metrics: dict

    @property
    def y_pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1) if len(self.probs) else np.zeros(0, dtype=np.int64)


@dataclass
class FitResult:
    model: SERModel
    best_epoch: int
    history: list[dict]
    stop_reason: str
    normalization: dict | None
    abandoned: str | None = None  # seed 002 rule A that fired
    train_seconds: float = 0.0
    epochs_run: int = 0
    train_utterances: int = 0
    train_segments: int = 0
    trainable_groups: list[str] = field(default_factory=list)


class Trainer:
    """Trains and evaluates one model configuration on the utterances of a
    :class:`SegmentBank` (one instance serves all folds of a run)."""

    def __init__(self, *, model_name: str, labels: Sequence[str], recipe: Recipe,
                 bank: SegmentBank, spec: InputSpec, sample_rate: int, device: torch.device,
                 seed: int = 0, model_config: dict | None = None, amp: bool = True,
                 dist_info: DistInfo | None = None, progress: Progress | None = None,
                 feature_cache_bytes: int | None = None,
                 feature_params: dict | None = None,
                 utt_domain: Sequence[str] | None = None) -> None:
        self.model_name = model_name
        self.labels = list(labels)
        self.num_classes = len(self.labels)
        self.recipe = recipe
        self.bank = bank
        self.spec = spec
        self.sample_rate = int(sample_rate)
        self.device = torch.device(device)
        self.seed = int(seed)
        self.model_config = dict(model_config or {})
        self.amp = bool(amp) and self.device.type == "cuda"
        self.dist = dist_info or DistInfo()
        self.progress = progress or Progress(None, active=False)
        self.augment = parse_augment(recipe.augment)
        self.feature = FeatureMeta.resolved(
            spec.feature, spec.params if feature_params is None else feature_params)
        self._cache = None  # features of every segment, or False when too large
        # the corpus (domain) of each bank utterance, for balance="corpus_sampler"
        self.utt_domain = None if utt_domain is None else np.asarray(utt_domain)
        if self.utt_domain is not None and len(self.utt_domain) != bank.n_utterances:
            raise ValueError(f"utt_domain has {len(self.utt_domain)} entries for "
                             f"{bank.n_utterances} utterances")
        self.resume_dir, self.resume_key = None, ""  # set by the protocol: see training.resume
        if feature_cache_bytes is None:
            feature_cache_bytes = (int(0.4 * torch.cuda.mem_get_info(self.device)[0])
                                   if self.device.type == "cuda" else 3 * 2**30)
        self.feature_cache_bytes = feature_cache_bytes

    # -- features ---------------------------------------------------------------------------
    def _featurize_segments(self, seg_idx: torch.Tensor, augment_gen: torch.Generator | None = None):
        """Waveform segments → (augmented) → features, computed on the training device."""
        wave = self.bank.gather(seg_idx).to(self.device, non_blocking=True)
        if augment_gen is not None and self.augment.enabled:
            clean, wave = wave, augment_batch(wave, self.sample_rate, self.augment, augment_gen)
            if self.feature.config.get("center_time"):  # the mean is over real audio only
                wave = keep_padding(wave, clean)
        if self.bank.fixed_len is None:
            lens = self.bank.seg_len[seg_idx.to(self.bank.device)].tolist()
            return fz.featurize_list(self.feature, [w[:n] for w, n in zip(wave, lens)],
                                     self.sample_rate)
        return fz.featurize(self.feature, wave, self.sample_rate)

    def _bytes_per_segment(self) -> int:
        probe = self._featurize_segments(torch.arange(min(2, self.bank.n_segments)))
        tensors = probe.values() if isinstance(probe, dict) else [probe]
        n = fz.batch_size_of(probe)
        return int(sum(t.numel() * t.element_size() for t in tensors) / max(1, n))

    def feature_cache(self):
        """Features of every segment of the bank (computed once per run), or ``None`` when
        they would not fit the cache budget (then batches are featurized on the fly).

        Fixed-length segments: one stacked tensor (or dict). Whole clips of different lengths
        (``segment_s=None``): a list with one ``(1, ...)`` entry per segment, collated per
        batch (time axis zero-padded to the batch's longest)."""
        if self._cache is None:
            if self._bytes_per_segment() * self.bank.n_segments > self.feature_cache_bytes:
                self._cache = False
            elif self.bank.fixed_len is None:
                with torch.no_grad():
                    self._cache = [self._featurize_segments(torch.tensor([i]))
                                   for i in range(self.bank.n_segments)]
            else:
                parts = []
                with torch.no_grad():
                    for start in range(0, self.bank.n_segments, 256):
                        idx = torch.arange(start, min(start + 256, self.bank.n_segments))
                        parts.append(self._featurize_segments(idx))
                self._cache = fz.collate(parts) if parts else False
        return self._cache if self._cache is not False else None

    def features(self, seg_idx: torch.Tensor, augment_gen: torch.Generator | None = None):
        """Raw features of segments; from the run's cache unless augmentation applies."""
        if augment_gen is None or not self.augment.enabled:
            cache = self.feature_cache()
            if isinstance(cache, list):
                return fz.to_device(fz.collate([cache[int(i)] for i in seg_idx]), self.device)
            if cache is not None:
                return fz.to_device(fz.index(cache, seg_idx), self.device)
        with torch.no_grad():
            return fz.to_device(self._featurize_segments(seg_idx, augment_gen), self.device)

    def _eval_batches(self, segs: torch.Tensor) -> list[torch.Tensor]:
        """Evaluation batches; whole clips of different lengths only batch with clips of the
        same length, so no padding changes a prediction (inference sees one clip at a time)."""
        if self.bank.fixed_len is not None:
            return [segs[i:i + EVAL_BATCH] for i in range(0, len(segs), EVAL_BATCH)]
        lens = self.bank.seg_len[segs.to(self.bank.device)].cpu()
        groups: dict[int, list[int]] = {}
        for s_, n in zip(segs.tolist(), lens.tolist()):
            groups.setdefault(n, []).append(s_)
        out = []
        for members in groups.values():
            for i in range(0, len(members), EVAL_BATCH):
                out.append(torch.tensor(members[i:i + EVAL_BATCH]))
        return out

    def compute_normalization(self, train_segments: torch.Tensor) -> dict:
        """Mean/std of the training segments' (clean) features; clips of different lengths
        one at a time, so that padding does not enter the statistics."""
        moments = fz.RunningMoments()
        step = 256 if self.bank.fixed_len is not None else 1
        for start in range(0, len(train_segments), step):
            moments.update(self.features(train_segments[start:start + step]))
        return moments.result()

    # -- model ------------------------------------------------------------------------------
    def build_model(self, init_state: dict | None = None, reset_head: bool = False,
                    trainable_groups: Sequence[str] | None = None,
                    init_num_classes: int | None = None) -> SERModel:
        n_init = init_num_classes or self.num_classes
        model = create_model(self.model_name, n_init, **self.model_config)
        if init_state is not None:
            missing, unexpected = model.load_state_dict(init_state, strict=False)
            if missing or unexpected:
                raise ValueError(f"weights do not match {self.model_name}: missing "
                                 f"{missing[:3]}, unexpected {unexpected[:3]}")
        if reset_head or n_init != self.num_classes:
            model.reset_classifier(self.num_classes)
        if trainable_groups is not None:
            set_trainable_groups(model, list(trainable_groups))
        return model.to(self.device)

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: SERModel, utt_indices: Sequence[int], normalization: dict | None
                 ) -> EvalResult:
        utt_indices = [int(i) for i in utt_indices]
        if not utt_indices:
            return EvalResult([], np.zeros(0, dtype=np.int64), np.zeros((0, self.num_classes)),
                              float("nan"), classification_metrics([], [], self.num_classes,
                                                                    self.labels))
        was_training = model.training
        model.eval()
        segs = self.bank.segments_of(utt_indices)
        probs_all = torch.zeros(len(segs), self.num_classes)
        position = {int(s_): i for i, s_ in enumerate(segs.tolist())}
        losses = []
        for idx in self._eval_batches(segs):
            x = fz.apply_normalization(self.features(idx), normalization)
            with self._autocast():
                logits = model(x)
            logits = logits.float()
            y = self.bank.seg_y(idx).to(logits.device)
            losses.append(F.cross_entropy(logits, y, reduction="sum").item())
            rows = torch.tensor([position[int(s_)] for s_ in idx.tolist()])
            probs_all[rows] = logits.softmax(-1).cpu()
        utt_probs = []
        pos = 0
        for u in utt_indices:
            n = int(self.bank.utt_n_seg[u])
            utt_probs.append(aggregate_posteriors(probs_all[pos:pos + n], self.spec.aggregation))
            pos += n
        probs = torch.stack(utt_probs).numpy()
        y_true = self.bank.utt_y[torch.tensor(utt_indices, device=self.bank.device)].cpu().numpy()
        metrics = classification_metrics(y_true, probs.argmax(1), self.num_classes, self.labels)
        if was_training:
            model.train()
        return EvalResult(utt_indices, y_true, probs, sum(losses) / len(segs), metrics)

    # -- training ---------------------------------------------------------------------------
    def _epoch_order(self, train_segs: torch.Tensor, y: torch.Tensor, gen: torch.Generator
                     ) -> torch.Tensor:
        n = len(train_segs)
        if self.recipe.balance in ("sampler", "corpus_sampler"):
            w = self.sampling_weights(train_segs, y)
            order = torch.multinomial(w, n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        if self.dist.enabled:  # equal shard per rank (drop the remainder), rank::world
            usable = n - n % self.dist.world_size
            order = order[:usable][self.dist.rank::self.dist.world_size]
        return train_segs[order]

    def sampling_weights(self, train_segs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-segment draw weights of the balanced samplers (mean 1; equal per class, and
        for ``corpus_sampler`` equal per corpus within a class)."""
        domain = None
        if self.recipe.balance == "corpus_sampler" and self.utt_domain is not None:
            domain = self.utt_domain[self.bank.seg_utt[train_segs.to(self.bank.device)].cpu().numpy()]
        return torch.from_numpy(corpus_class_weights(y.cpu().numpy(), domain))

    def fit(self, fold: int, train_utts: Sequence[int], val_utts: Sequence[int], *,
            init_state: dict | None = None, init_num_classes: int | None = None,
            reset_head: bool = False, trainable_groups: Sequence[str] | None = None,
            epochs: int | None = None, fixed_normalization: dict | None = None,
            freeze_bn_stats: bool = True) -> FitResult:
        """Train on ``train_utts`` (indices into the bank), select on ``val_utts``.

        Fine-tuning: ``init_state`` (weights of a model with ``init_num_classes`` outputs),
        ``reset_head`` (new classifier), ``trainable_groups`` (the rest is frozen; with
        ``freeze_bn_stats`` the frozen groups also stay in eval mode, so their batch-norm
        running statistics and dropout do not change), ``fixed_normalization`` (use these
        statistics, e.g. the checkpoint's, instead of computing them; ``{}`` = none).
        """
        st = self._start_fit(fold, train_utts, epochs, init_state, init_num_classes, reset_head,
                             trainable_groups, fixed_normalization, freeze_bn_stats)
        t_fit = time.time()
        start, finished = 1, False
        saved = resume.load(self.resume_dir, fold, self.resume_key)
        if saved is not None:  # continue after the last completed epoch
            start, finished = resume.restore(saved, st) + 1, saved["finished"]
            self.progress.line(f"fold {fold + 1}: resumed after epoch {start - 1}"
                               f"{' (finished)' if finished else ''}")
        for epoch in range(start, start if finished else st.epochs + 1):
            finished = self._epoch(st, epoch, val_utts) or epoch == st.epochs
            if self.resume_dir is not None and (not self.dist.enabled or self.dist.is_main):
                resume.save(self.resume_dir, fold, resume.state_of(self.resume_key, epoch,
                                                                   finished, st))
            if finished:
                break
        st.model.load_state_dict(st.best_state)
        st.model.eval()
        return FitResult(model=st.model, best_epoch=st.best_epoch, history=st.history,
                         stop_reason=st.stop_reason, normalization=st.normalization,
                         abandoned=st.abandoned, train_seconds=time.time() - t_fit,
                         epochs_run=len(st.history), train_utterances=len(train_utts),
                         train_segments=len(st.train_segs), trainable_groups=st.trainable)

    def _start_fit(self, fold, train_utts, epochs, init_state, init_num_classes, reset_head,
                   trainable_groups, fixed_normalization, freeze_bn_stats) -> "_FitState":
        """Seeded model, normalisation, loss, optimiser, schedule and generators of a fold."""
        r = self.recipe
        fold_seed = self.seed * 1000 + fold
        torch.manual_seed(fold_seed)
        np.random.seed(fold_seed % 2**32)
        model = self.build_model(init_state, reset_head, trainable_groups, init_num_classes)
        trainable = [n for n, mods in model.layer_groups()
                     if any(p.requires_grad for m in mods for p in m.parameters())]
        train_segs = self.bank.segments_of(train_utts)
        if len(train_segs) == 0:
            raise ValueError("no training segments")
        seg_y = self.bank.seg_y(train_segs).cpu()
        if fixed_normalization is not None:
            normalization = fixed_normalization or None
        else:
            normalization = self.compute_normalization(train_segs) if r.normalize else None
        frozen_modules = []
        if trainable_groups is not None and freeze_bn_stats:
            frozen_modules = [m for n, mods in model.layer_groups() if n not in set(trainable)
                              for m in mods]
        weight = (class_weights(seg_y, self.num_classes).to(self.device)
                  if r.balance == "weighted_loss" else None)
        module = TrainModule(model, weight, r.label_smoothing,
                             mixup=r.mixup_alpha > 0).to(self.device)
        runner: nn.Module = module
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            runner = DDP(module, device_ids=[self.device.index] if self.device.type == "cuda"
                         else None, find_unused_parameters=True)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = build_optimizer(params, r)
        return _FitState(
            fold=fold, epochs=r.epochs if epochs is None else int(epochs), model=model,
            runner=runner, params=params, opt=opt, sched=build_scheduler(opt, r),
            stopper=EarlyStopping(r.monitor, r.patience),
            rules=Seed002Rules() if r.seed002_rules else None, normalization=normalization,
            frozen_modules=frozen_modules, trainable=trainable, train_segs=train_segs,
            seg_y=seg_y, gen=torch.Generator().manual_seed(fold_seed),
            aug_gen=torch.Generator().manual_seed(fold_seed + 7919),
            mix_gen=torch.Generator().manual_seed(fold_seed + 104729),
            mask_gen=torch.Generator().manual_seed(fold_seed + 130363),
            mix_rng=np.random.default_rng(fold_seed + 104729),
            best_state=copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}))

    def _train_epoch(self, st: "_FitState", epoch: int, t0: float) -> tuple[float, int, float]:
        """One pass over the training segments: ``(mean loss, segments, learning rate)``."""
        r = self.recipe
        st.model.train()
        for m in st.frozen_modules:
            m.eval()
        order = self._epoch_order(st.train_segs, st.seg_y, st.gen)
        batches = [order[i:i + r.batch_size] for i in range(0, len(order), r.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm needs 2 per batch
            batches = batches[:-1]
        total, count = 0.0, 0
        lr = st.opt.param_groups[0]["lr"]
        for step, idx in enumerate(batches, 1):
            x = fz.apply_normalization(self.features(idx, st.aug_gen), st.normalization)
            y = self.bank.seg_y(idx).to(self.device)
            if r.spec_mask > 0:
                x = spec_mask_batch(x, r.spec_mask, st.mask_gen)
            if r.mixup_alpha > 0:
                x, y_mix, lam = mixup_batch(x, y, r.mixup_alpha, st.mix_rng, st.mix_gen)
            else:
                y_mix, lam = None, 1.0
            with self._autocast():
                loss, _ = st.runner(x, y, y_mix, lam)
            st.opt.zero_grad(set_to_none=True)
            loss.backward()
            if r.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(st.params, r.grad_clip)
            st.opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            self.progress.step(st.fold, epoch, step, len(batches), total / max(count, 1), lr, t0)
        return total / max(count, 1), count, lr

    def _epoch(self, st: "_FitState", epoch: int, val_utts: Sequence[int]) -> bool:
        """Train one epoch, validate, keep the best weights, report; True: stop here."""
        r, t0 = self.recipe, time.time()
        train_loss, count, lr = self._train_epoch(st, epoch, t0)
        train_s = time.time() - t0
        if st.sched is not None:
            st.sched.step()
        val = self.evaluate(st.model, val_utts, st.normalization) if len(val_utts) else None
        val_summary = None
        if val is not None:
            val_summary = {"loss": val.loss, **{k: val.metrics[k] for k in
                                                ("wa", "ua", "weighted_f1", "macro_f1")}}
            value = val.loss if r.monitor == "loss" else val.metrics[r.monitor]
        else:
            value = train_loss if r.monitor == "loss" else -train_loss
            st.stopper.mode = "min" if r.monitor == "loss" else "max"
        is_best = st.stopper.step(epoch, value)
        if is_best:
            st.best_epoch = epoch
            st.best_state = {k: v.detach().cpu().clone() for k, v in st.model.state_dict().items()}
        dt = time.time() - t0
        self.progress.epoch_finished(dt)
        rec = {"epoch": epoch, "train_loss": train_loss, "val": val_summary, "best": is_best,
               "lr": lr, "epoch_s": round(dt, 3), "train_s": round(train_s, 3),
               "train_segments": count}
        st.history.append(rec)
        self.progress.emit("epoch_end", fold=st.fold, epochs=st.epochs,
                           eta_s=self.progress.eta(), **rec)
        vtxt = (f" val loss {val.loss:.4f} UA {100 * val.metrics['ua']:.1f}% "
                f"WA {100 * val.metrics['wa']:.1f}%") if val is not None else ""
        self.progress.line(f"fold {st.fold + 1} epoch {epoch}/{st.epochs} loss {train_loss:.4f}"
                           f"{vtxt}{' *' if is_best else ''} ({dt:.1f} s)")
        return self._should_stop(st, epoch, val)

    def _should_stop(self, st: "_FitState", epoch: int, val: EvalResult | None) -> bool:
        """Seed 002's rules (when asked) and early-stopping patience."""
        if st.rules is not None and val is not None:
            verdict = st.rules.check(epoch, val.loss, val.metrics["macro_f1"])
            if verdict is not None:
                st.stop_reason = verdict[1]
                if verdict[0] == "abandon":
                    st.abandoned = verdict[1]
                self.progress.emit("early_stop", fold=st.fold, epoch=epoch, reason=st.stop_reason)
                return True
        if st.stopper.should_stop:
            st.stop_reason = "patience"
            self.progress.emit("early_stop", fold=st.fold, epoch=epoch, reason="patience")
            return True
        return False


@dataclass
class _FitState:
    """One fold's training in progress (:meth:`Trainer.fit`)."""

    fold: int
    epochs: int
    model: SERModel
    runner: nn.Module
    params: list
    opt: torch.optim.Optimizer
    sched: Any
    stopper: EarlyStopping
    rules: Seed002Rules | None
    normalization: dict | None
    frozen_modules: list
    trainable: list[str]
    train_segs: torch.Tensor
    seg_y: torch.Tensor
    gen: torch.Generator
    aug_gen: torch.Generator
    mix_gen: torch.Generator
    mix_rng: np.random.Generator
    mask_gen: torch.Generator
    best_state: dict
    best_epoch: int = 0
    history: list = field(default_factory=list)
    stop_reason: str = "max_epochs"
    abandoned: str | None = None
