"""From waveform segments to exactly what a model's ``forward`` takes — shared by training and
inference.

Inference must feed a checkpoint's model what training fed it. The one entry point for both is
:func:`prepare_batch`::

    from ser_core.training.featurize import prepare_batch
    x = prepare_batch(meta, segments)          # meta = a checkpoint's config.json dict
    logits = model(x)

``segments`` is a ``(n_segments, samples)`` float tensor of waveform segments at
``meta["sample_rate"]``, cut with :func:`ser_core.features.segments.segment_waveform` using
``meta["input_spec"]["segment_s"]`` / ``["hop_s"]`` (:func:`segment_for_model` does that for a
whole clip). The function computes the features named by ``meta["feature"]`` on the segments'
device and applies ``meta["normalization"]``.

Checkpoint meta keys this module reads and writes
-------------------------------------------------
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

import dataclasses
import inspect
from typing import Any, Iterable, Mapping

import torch

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.models.base import InputSpec

Features = "torch.Tensor | dict[str, torch.Tensor]"
NORM_EPS = 1e-5
SINGLE = "x"


# -- specs ------------------------------------------------------------------------------

def spec_from_meta(meta_or_spec: Any) -> tuple[InputSpec, dict, int]:
    """``(input_spec, feature_params, sample_rate)`` from checkpoint meta, an InputSpec, or a
    model (class or instance)."""
    if isinstance(meta_or_spec, Mapping):
        meta = meta_or_spec
        s = dict(meta.get("input_spec") or {})
        feature = meta.get("feature") or {}
        kind = feature.get("kind") or s.get("feature")
        params = dict(feature.get("config") or s.get("params") or {})
        spec = InputSpec(feature=kind, params=dict(s.get("params") or {}),
                         segment_s=s.get("segment_s"), hop_s=s.get("hop_s"),
                         aggregation=s.get("aggregation", "mean"))
        return spec, params, int(meta.get("sample_rate") or DEFAULT_SAMPLE_RATE)
    spec = meta_or_spec if isinstance(meta_or_spec, InputSpec) else meta_or_spec.input_spec
    return spec, dict(spec.params), DEFAULT_SAMPLE_RATE


def resolved_feature_config(kind: str, params: Mapping[str, Any]) -> dict:
    """The full feature config (defaults + ``params``) as a dict, when the pipeline can tell;
    else ``params`` as given."""
    try:
        from ser_core.features import pipeline
    except ImportError:
        return dict(params)
    for name in ("resolve_config", "feature_config", "config_for"):
        fn = getattr(pipeline, name, None)
        if callable(fn):
            cfg = fn(kind, **dict(params))
            if dataclasses.is_dataclass(cfg):
                return dataclasses.asdict(cfg)
            if isinstance(cfg, Mapping):
                return dict(cfg)
    return dict(params)


# -- features ---------------------------------------------------------------------------

def _extract(kind: str, segments: torch.Tensor, sample_rate: int, params: Mapping[str, Any]):
    from ser_core.features import pipeline

    fn = pipeline.extract
    sig = inspect.signature(fn)
    if "sample_rate" in sig.parameters:
        return fn(kind, segments, sample_rate=sample_rate, **dict(params))
    return fn(kind, segments, sample_rate, **dict(params))


def featurize(meta_or_spec: Any, segments: torch.Tensor, sample_rate: int | None = None):
    """Raw (un-normalised) model input for ``(n, samples)`` waveform segments.

    Segments of one fixed length are processed as one batch on their device. Returns a tensor
    ``(n, ...)`` or a dict of such tensors, as the model's feature kind defines.
    """
    spec, params, sr = spec_from_meta(meta_or_spec)
    sr = int(sample_rate or sr)
    if segments.dim() == 1:
        segments = segments.unsqueeze(0)
    out = _extract(spec.feature, segments, sr, params)
    return _to_model_input(out)


def featurize_list(meta_or_spec: Any, clips: Iterable[torch.Tensor], sample_rate: int | None = None):
    """Features of clips of different lengths, one at a time, stacked (time axis zero-padded
    to the longest, for whole-clip models whose features are not fixed-size)."""
    feats = [featurize(meta_or_spec, c.unsqueeze(0) if c.dim() == 1 else c, sample_rate)
             for c in clips]
    return collate(feats)


def _to_model_input(out: Any):
    """Accept what the pipeline returns: a tensor, a dict, or an object holding ``features``."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
    for attr in ("features", "output", "x"):
        val = getattr(out, attr, None)
        if val is not None:
            return _to_model_input(val)
    raise TypeError(f"the feature pipeline returned {type(out).__name__}, not tensors")


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

def prepare_batch(meta_or_spec: Any, waveform_segments: torch.Tensor,
                  sample_rate: int | None = None, normalization: Mapping | None = None):
    """Model input for waveform segments: features, then the checkpoint's normalisation.

    ``meta_or_spec``: checkpoint meta (uses its ``normalization`` unless one is passed), or an
    ``InputSpec``/model (then only ``normalization`` given here applies). Runs on the
    segments' device; segments of different lengths may be given as a list.
    """
    if isinstance(waveform_segments, (list, tuple)):
        feats = featurize_list(meta_or_spec, waveform_segments, sample_rate)
    else:
        feats = featurize(meta_or_spec, waveform_segments, sample_rate)
    if normalization is None and isinstance(meta_or_spec, Mapping):
        normalization = meta_or_spec.get("normalization")
    return apply_normalization(feats, normalization)


def segment_for_model(meta_or_spec: Any, waveform: torch.Tensor) -> torch.Tensor:
    """Cut a mono clip ``(time,)`` into the model's segments ``(n, samples)``."""
    from ser_core.features.segments import segment_waveform

    spec, _, sr = spec_from_meta(meta_or_spec)
    return segment_waveform(waveform, sr, spec.segment_s, spec.hop_s)


def feature_meta(spec: InputSpec, sample_rate: int) -> dict:
    """The ``sample_rate``/``input_spec``/``feature`` entries of a checkpoint's meta."""
    return {"sample_rate": int(sample_rate), "input_spec": dataclasses.asdict(spec),
            "feature": {"kind": spec.feature,
                        "config": resolved_feature_config(spec.feature, spec.params)}}
