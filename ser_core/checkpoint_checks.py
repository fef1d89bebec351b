"""Checks a checkpoint must pass when it loads, so that a bad one is skipped there (with a
sentence) instead of failing later inside a prediction and taking every input down.

* :func:`validate_meta`: ``config.json`` is coherent: labels a non-empty list of distinct
  names, as many as ``num_classes``; a sample rate within the audio layer's range; a feature
  kind that exists with parameters it knows and values it accepts (bounded, see
  :mod:`ser_core.features.configs`); a normalisation of finite numbers.
* :func:`check_weights`: every floating-point weight is finite (no NaN or infinity).
* :func:`smoke_test`: the loaded model, through its own feature preparation, turns a short
  synthetic clip into one finite score per label.

Each raises :class:`~ser_core.errors.CheckpointError` naming the checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

from ser_core.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from ser_core.errors import CheckpointError, SerError


def _fail(where: str | Path, why: str) -> None:
    raise CheckpointError(f"{where}: {why}")


def validate_meta(meta: Mapping[str, Any], where: str | Path) -> None:
    if not isinstance(meta, Mapping):
        _fail(where, "config.json does not hold an object.")
    if not isinstance(meta.get("model"), str) or not meta.get("model"):
        _fail(where, "config.json names no model.")
    labels, n = meta.get("labels"), meta.get("num_classes")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        _fail(where, "its label list is empty or holds something other than names.")
    if len(set(labels)) != len(labels):
        _fail(where, f"its labels repeat a name ({', '.join(labels)}).")
    if not isinstance(n, int) or isinstance(n, bool) or n != len(labels):
        _fail(where, f"num_classes is {n!r} but it lists {len(labels)} labels.")
    if not isinstance(meta.get("model_config", {}), Mapping):
        _fail(where, "model_config is not an object.")
    rate = meta.get("sample_rate")
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool)
                             or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
        _fail(where, f"sample rate {rate!r} is not a whole number of Hz between "
                     f"{MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}.")
    _check_feature(meta, where)
    _check_normalization(meta.get("normalization"), where)


def _check_feature(meta: Mapping[str, Any], where: str | Path) -> None:
    feature = meta.get("feature")
    if feature is None:
        return
    if not isinstance(feature, Mapping) or not isinstance(feature.get("kind"), str):
        _fail(where, "its feature entry names no feature kind.")
    params = feature.get("config") or {}
    if not isinstance(params, Mapping):
        _fail(where, "its feature config is not an object.")
    from ser_core.features.pipeline import feature_config

    try:
        feature_config(feature["kind"], **dict(params))
    except (SerError, KeyError) as exc:
        _fail(where, f"its feature configuration is unusable: {str(exc).rstrip('.')}.")


def _numbers(value: Any):
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _check_normalization(norm: Any, where: str | Path) -> None:
    if norm is None:
        return
    if not isinstance(norm, Mapping):
        _fail(where, "its normalization is not an object.")
    if not all(math.isfinite(v) for v in _numbers(norm)):
        _fail(where, "its normalization statistics hold NaN or infinity.")


def check_weights(state: Mapping[str, Any], where: str | Path) -> None:
    import torch

    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        _fail(where, f"{len(bad)} weight tensor(s) hold NaN or infinity ({', '.join(bad[:3])}).")


def smoke_test(model, prepare: Callable, sample_rate: int, segment_s: float | None,
               num_classes: int, where: str | Path) -> None:
    """One forward pass on a synthetic voiced clip (the model's segment length, or 1 s)."""
    import torch

    seconds = float(segment_s or 1.0)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    wave = (0.3 * torch.sin(2 * torch.pi * 180 * t) * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t)))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.inference_mode():
            out = model(prepare(wave.unsqueeze(0).to(device)))
    except SerError as exc:
        _fail(where, f"it cannot run on audio: {str(exc).rstrip('.')}.")
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        _fail(where, f"it cannot run on audio ({type(exc).__name__}: {str(exc)[:200]}).")
    if tuple(out.shape) != (1, num_classes):
        _fail(where, f"it gives {tuple(out.shape)} scores for one segment, not (1, {num_classes}).")
    if not bool(torch.isfinite(out).all()):
        _fail(where, "it gives NaN or infinite scores.")
