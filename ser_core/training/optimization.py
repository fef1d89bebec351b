"""What one training step is made of: the model with its loss (:class:`TrainModule`), mixup,
class weights, the optimiser and the learning-rate schedule of a :class:`Recipe`."""

from __future__ import annotations

import inspect

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ser_core.errors import ConfigError
from ser_core.models.base import SERModel
from ser_core.training.recipes import Recipe


class TrainModule(nn.Module):
    """``forward(x, y) -> (loss, logits)``: the model plus its loss, so that DDP sees one
    forward. Uses the model's own ``loss(x, y)`` when it defines one (seed 004's dual model:
    the mean of both branches' cross-entropies); class weights reach it when its ``loss``
    accepts ``weight``."""

    def __init__(self, model: SERModel, class_weight: torch.Tensor | None,
                 label_smoothing: float = 0.0, mixup: bool = False) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("class_weight", class_weight if class_weight is not None else None,
                             persistent=False)
        self.label_smoothing = label_smoothing
        own = getattr(model, "loss", None)
        self._own_loss = own if callable(own) else None
        self._own_takes_weight = bool(own) and "weight" in inspect.signature(own).parameters
        if mixup and self._own_loss is not None:
            raise ConfigError(f"mixup is not supported for {type(model).__name__}, which "
                              "computes its own loss; use mixup_alpha=0.")

    def forward(self, x, y, y_mix: torch.Tensor | None = None, lam: float = 1.0):
        """``y_mix``/``lam``: targets of a mixup batch (``x`` already mixed); the loss is
        ``lam CE(y) + (1 - lam) CE(y_mix)``."""
        if self._own_loss is not None:  # never with y_mix: refused in __init__
            if self._own_takes_weight:
                return self._own_loss(x, y, weight=self.class_weight)
            return self._own_loss(x, y)
        logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weight,
                               label_smoothing=self.label_smoothing)
        if y_mix is not None:
            loss = lam * loss + (1.0 - lam) * F.cross_entropy(
                logits.float(), y_mix, weight=self.class_weight,
                label_smoothing=self.label_smoothing)
        return loss, logits


def mixup_batch(x, y: torch.Tensor, alpha: float, rng: np.random.Generator,
                gen: torch.Generator):
    """Mixup (Zhang et al., 2018) as GLAM's public code applies it: one ``lam ~ Beta(alpha,
    alpha)`` per batch, each example mixed with the batch's example at a random permutation
    (``x`` a tensor, or a dict of tensors mixed alike). Returns the mixed inputs, the
    permuted targets and ``lam``. No library in the stack has it for plain tensors
    (torchvision's ``MixUp`` wants one-hot image batches), hence here."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(y.shape[0], generator=gen).to(y.device)

    def mix(t: torch.Tensor) -> torch.Tensor:
        return lam * t + (1.0 - lam) * t[perm]

    mixed = {k: mix(v) for k, v in x.items()} if isinstance(x, dict) else mix(x)
    return mixed, y[perm], lam


def spec_mask_batch(x, fraction: float, gen: torch.Generator, masks: int = 2):
    """SpecAugment's frequency and time masking (Park et al., 2019), without its time warp:
    per example, ``masks`` bands of the frequency axis and ``masks`` stretches of the time axis,
    each of a width drawn uniformly from ``0 .. fraction`` of the axis at a random place, are
    set to that example's mean (for centred or normalised features, about 0). Applies to
    ``(batch, channels, freq, time)`` feature maps (or every such entry of a dict); others
    (waveforms, frame sequences) are returned as they are. torchaudio's
    ``mask_along_axis_iid`` has no generator argument (a run must be repeatable) and masks
    with a constant, hence here."""
    def one(t: torch.Tensor) -> torch.Tensor:
        if t.dim() != 4:
            return t
        b = t.shape[0]
        keep = torch.ones(b, 1, t.shape[2], t.shape[3])
        for axis in (2, 3):
            size = t.shape[axis]
            width = (torch.rand(b, masks, generator=gen) * fraction * size).long()
            start = (torch.rand(b, masks, generator=gen) * (size - width + 1)).long()
            pos = torch.arange(size)
            hit = ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(dim=1)
            keep = keep * (~hit).float().view(b, 1, *(size if a == axis else 1 for a in (2, 3)))
        keep = keep.to(t.device, t.dtype)
        mean = t.mean(dim=(1, 2, 3), keepdim=True)
        return t * keep + mean * (1 - keep)

    return {k: one(v) for k, v in x.items()} if isinstance(x, dict) else one(x)


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``n / (K · n_c)`` for classes present; 0 for classes absent from training."""
    counts = torch.bincount(y.cpu(), minlength=num_classes).double()
    present = counts > 0
    k = int(present.sum())
    w = torch.zeros(num_classes, dtype=torch.float64)
    w[present] = counts.sum() / (k * counts[present])
    return w.float()


def corpus_class_weights(y: np.ndarray, domain: np.ndarray | None = None) -> np.ndarray:
    """Per-example weights (mean 1) giving every class present the same total weight and,
    within a class, every corpus (``domain``) that has it the same share:
    ``∝ 1 / (n_{d,c} · m_c)`` with ``m_c`` the number of corpora that have class ``c``.
    Without ``domain`` (or with one corpus) it is the inverse class frequency. Used by the
    trainer's ``corpus_sampler`` and ``acoustic_stats``'s ``balance="corpus"``: pooled corpora
    differ in size (CREMA-D's 3,756 clips against Emo-DB's 535), and without it the largest
    one sets what each class sounds like."""
    y = np.asarray(y).reshape(-1)
    domain = np.zeros_like(y) if domain is None else np.unique(np.asarray(domain).reshape(-1),
                                                                 return_inverse=True)[1].reshape(-1)
    if len(domain) != len(y):
        raise ValueError(f"{len(domain)} corpus labels for {len(y)} examples")
    cells, cell, counts = np.unique(np.stack([domain, y]), axis=1, return_inverse=True,
                                    return_counts=True)  # (corpus, class) cells present
    corpora_per_class = np.bincount(cells[1], minlength=int(y.max()) + 1 if len(y) else 0)
    w = 1.0 / (counts[cell.reshape(-1)] * corpora_per_class[y])
    return w * len(y) / w.sum() if len(y) else w


def build_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def build_scheduler(opt: torch.optim.Optimizer, recipe: Recipe):
    """Stepped once per epoch. ``step``: x gamma every ``step_size`` epochs; ``exponential``:
    x gamma per epoch; both floored at ``min_lr``."""
    if recipe.scheduler == "none":
        return None
    floor = recipe.min_lr / recipe.lr

    def factor(epoch: int) -> float:
        if recipe.scheduler == "step":
            f = recipe.gamma ** (epoch // max(1, recipe.step_size))
        else:
            f = recipe.gamma ** epoch
        return max(f, floor)

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
