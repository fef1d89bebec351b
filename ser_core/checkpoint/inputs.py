"""From waveform segments to exactly what a model's ``forward`` takes, for training and
inference alike.

Inference must feed a checkpoint's model what training fed it. The one entry point for both is
:func:`prepare_batch`::

    from ser_core.checkpoint import prepare_batch
    x = prepare_batch(meta, segments)          # meta: a CheckpointMeta
    logits = model(x)

``segments`` is a ``(n_segments, samples)`` float tensor of waveform segments at
``meta.sample_rate``, cut with :func:`ser_core.features.segments.segment_waveform` using
``meta.input_spec.segment_s`` / ``hop_s`` (:func:`segment_for_model` does that for a whole
clip). The function computes the features ``meta.feature`` names on the segments' device and
applies ``meta.normalization``; the trainer calls :func:`featurize` and
:func:`apply_normalization` itself, the same two steps.

Checkpoint meta keys this module reads (fields of :class:`CheckpointMeta`)
-------------------------------------------------------------------------
``sample_rate`` (int)
    rate of the waveforms the model was trained on (16 000).
``input_spec`` (dict)
    ``dataclasses.asdict(InputSpec)``: ``feature``, ``params``, ``segment_s``, ``hop_s``,
    ``aggregation``.
``feature`` (dict)
    ``{"kind": <feature kind for ser_core.features.pipeline>, "config": <resolved feature
    config as a dict>}``; ``config`` is passed to the pipeline as keyword overrides.
``normalization`` (dict or null)
    ``null``: inputs are used as the pipeline makes them. Otherwise::

        {"type": "mean_std", "over": ["segments", "time"], "eps": 1e-5,
         "inputs": {NAME: {"shape": [...], "mean": <nested list>, "std": <nested list>}}}

    computed on the training split only. ``NAME`` is ``"x"`` for a model that takes one
    tensor, else the key of the input dict. For an input of shape
    ``(batch, *S, time)`` the statistics have shape ``S`` (one value per channel x frequency
    bin, pooled over segments and frames; a raw waveform ``(batch, time)`` has scalar
    statistics) and are applied as ``(x - mean[..., None]) / (std[..., None] + eps)``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch

from ser_core.checkpoint.meta import CheckpointMeta, FeatureMeta

NORM_EPS = 1e-5
SINGLE = "x"


# -- features ---------------------------------------------------------------------------

def featurize(feature: FeatureMeta, segments: torch.Tensor, sample_rate: int):
    """Raw (un-normalised) model input for ``(n, samples)`` waveform segments.

    Segments of one fixed length are processed as one batch on their device. Returns a tensor
    ``(n, ...)`` or a dict of such tensors, as the feature kind defines.
    """
    from ser_core.features import pipeline

    if segments.dim() == 1:
        segments = segments.unsqueeze(0)
    return pipeline.extract(feature.kind, segments, int(sample_rate), **feature.config)


def featurize_list(feature: FeatureMeta, clips: Iterable[torch.Tensor], sample_rate: int):
    """Features of clips of different lengths, one at a time, stacked (time axis zero-padded
    to the longest, for whole-clip models whose features are not fixed-size)."""
    return collate([featurize(feature, c, sample_rate) for c in clips])


def collate(items: list):
    """Concatenate per-item features along the batch axis, zero-padding the last axis."""
    if not items:
        raise ValueError("nothing to collate")
    if isinstance(items[0], Mapping):
        return {k: collate([it[k] for it in items]) for k in items[0]}
    width = max(t.shape[-1] for t in items)
    padded = [torch.nn.functional.pad(t, (0, width - t.shape[-1])) if t.shape[-1] < width else t
              for t in items]
    return torch.cat(padded, dim=0)


def index(features, idx: torch.Tensor):
    """Rows ``idx`` of a feature tensor or dict of tensors (moved to ``idx``'s device)."""
    if isinstance(features, Mapping):
        return {k: v[idx.to(v.device)] for k, v in features.items()}
    return features[idx.to(features.device)]


def to_device(features, device: torch.device | str, non_blocking: bool = True):
    if isinstance(features, Mapping):
        return {k: v.to(device, non_blocking=non_blocking) for k, v in features.items()}
    return features.to(device, non_blocking=non_blocking)


def batch_size_of(features) -> int:
    if isinstance(features, Mapping):
        return int(next(iter(features.values())).shape[0])
    return int(features.shape[0])


# -- normalisation ----------------------------------------------------------------------

class RunningMoments:
    """Per-(channel, bin) mean/std pooled over segments and time, accumulated batch by batch
    in float64 (Chan et al. parallel update)."""

    def __init__(self) -> None:
        self.n: dict[str, float] = {}
        self.mean: dict[str, torch.Tensor] = {}
        self.m2: dict[str, torch.Tensor] = {}

    def update(self, features) -> None:
        items = features.items() if isinstance(features, Mapping) else [(SINGLE, features)]
        for name, x in items:
            x = x.detach().double()
            flat = x.movedim(-1, 1).reshape(x.shape[0] * x.shape[-1], *x.shape[1:-1]) \
                if x.dim() > 2 else x.reshape(-1)
            n_b = float(flat.shape[0])
            mean_b = flat.mean(0)
            m2_b = ((flat - mean_b) ** 2).sum(0)
            if name not in self.n:
                self.n[name], self.mean[name], self.m2[name] = n_b, mean_b, m2_b
                continue
            n_a, mean_a = self.n[name], self.mean[name]
            delta = mean_b - mean_a
            tot = n_a + n_b
            self.mean[name] = mean_a + delta * (n_b / tot)
            self.m2[name] = self.m2[name] + m2_b + delta ** 2 * (n_a * n_b / tot)
            self.n[name] = tot

    def result(self) -> dict:
        inputs = {}
        for name in self.n:
            std = torch.sqrt(self.m2[name] / max(self.n[name], 1.0))
            mean = self.mean[name]
            inputs[name] = {"shape": list(mean.shape), "mean": mean.float().cpu().tolist(),
                            "std": std.float().cpu().tolist()}
        return {"type": "mean_std", "over": ["segments", "time"], "eps": NORM_EPS,
                "inputs": inputs}


# Statistics as tensors, per normalisation dict, input name and device/dtype. The entry keeps
# the dict itself: the key is its id(), and an id is only unique while the object lives (a
# freed dict's id is soon reused by another checkpoint's, whose statistics differ).
_NORM_CACHE: dict[tuple[int, str, str], tuple[Mapping, torch.Tensor, torch.Tensor]] = {}


def _stats(normalization: Mapping, name: str, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    key = (id(normalization), name, f"{device}:{dtype}")
    hit = _NORM_CACHE.get(key)
    if hit is not None:  # the entry holds its dict, so this id is still that dict's
        return hit[1], hit[2]
    entry = normalization["inputs"][name]
    mean = torch.as_tensor(entry["mean"], dtype=dtype, device=device)
    std = torch.as_tensor(entry["std"], dtype=dtype, device=device)
    if len(_NORM_CACHE) > 64:
        _NORM_CACHE.clear()
    _NORM_CACHE[key] = (normalization, mean, std)
    return mean, std


def apply_normalization(features, normalization: Mapping | None):
    """Standardise features with the checkpoint's statistics (see the module docstring)."""
    if not normalization:
        return features
    if normalization.get("type") != "mean_std":
        raise ValueError(f"unknown normalization type {normalization.get('type')!r}")
    eps = float(normalization.get("eps", NORM_EPS))
    inputs = normalization.get("inputs", {})

    def one(name: str, x: torch.Tensor) -> torch.Tensor:
        if name not in inputs:
            return x
        mean, std = _stats(normalization, name, x.device, x.dtype)
        if x.dim() > 2:
            mean, std = mean[..., None], std[..., None]
        return (x - mean) / (std + eps)

    if isinstance(features, Mapping):
        return {k: one(k, v) for k, v in features.items()}
    return one(SINGLE, features)


# -- the one entry point ----------------------------------------------------------------

def prepare_batch(meta: CheckpointMeta, waveform_segments: torch.Tensor | list[torch.Tensor]):
    """Model input for waveform segments at ``meta.sample_rate``: features, then the
    checkpoint's normalisation. Runs on the segments' device; segments of different lengths
    may be given as a list."""
    if isinstance(waveform_segments, (list, tuple)):
        feats = featurize_list(meta.feature, waveform_segments, meta.sample_rate)
    else:
        feats = featurize(meta.feature, waveform_segments, meta.sample_rate)
    return apply_normalization(feats, meta.normalization)


def segment_for_model(meta: CheckpointMeta, waveform: torch.Tensor) -> torch.Tensor:
    """Cut a mono clip ``(time,)`` into the model's segments ``(n, samples)``."""
    from ser_core.features.segments import segment_waveform

    spec = meta.input_spec
    return segment_waveform(waveform, meta.sample_rate, spec.segment_s, spec.hop_s)
