"""Arranging an :class:`~ser_core.inference.Explanation` for display: which captured tensors
are attention over time, transformer maps or deformable windows, and the time axis of each.

All tensors come from :meth:`ser_core.inference.InferenceService.explain`; this module only
selects, indexes and assigns times (segment start + frame position within the segment).
"""

from __future__ import annotations

from typing import Any

import torch

from ser_core.inference import Explanation


def _layers(value: Any) -> list[torch.Tensor]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def segment_span(expl: Explanation, seg: int) -> tuple[float, float]:
    """``(start, length)`` in seconds of segment ``seg`` in the clip."""
    p = expl.prediction
    start = p.segment_starts_s[seg]
    length = p.segment_s or (expl.waveform.shape[-1] / expl.sample_rate)
    return start, length


def frame_times(expl: Explanation, seg: int, n: int) -> torch.Tensor:
    """Centres (s, in the clip) of ``n`` equal steps spanning segment ``seg``."""
    start, length = segment_span(expl, seg)
    return start + (torch.arange(n, dtype=torch.float64) + 0.5) * (length / max(n, 1))


def background(expl: Explanation, seg: int) -> tuple[torch.Tensor, str]:
    """A ``(freq, time)`` picture of what the model saw in segment ``seg``, and its name.

    Spectral inputs: their first channel (the static log-mel for ACRNN, the MFCC image...).
    Waveform inputs (SERCT): the segment's log-mel from ``ser_core.features`` for reference.
    """
    x = expl.features
    if isinstance(x, dict):
        key = max(x, key=lambda k: x[k].shape[-2] if x[k].dim() >= 3 else 0)
        t = x[key][seg]
        name = key
    else:
        t, name = x[seg], expl.model.spec.feature
    if t.dim() == 3:
        return t[0], f"{name} (channel 0, normalised model input)"
    if t.dim() == 2 and t.shape[0] > 1:
        return t, f"{name} (normalised model input)"
    from ser_core.features.pipeline import extract

    start, length = segment_span(expl, seg)
    sr = expl.sample_rate
    wave = expl.waveform[int(start * sr): int((start + length) * sr)]
    if wave.numel() < sr // 20:
        wave = torch.nn.functional.pad(wave, (0, sr // 20 - wave.numel()))
    return extract("logmel", wave, sr)[0], "log-mel of the segment (the model reads the raw waveform)"


def time_attention(expl: Explanation) -> dict[str, torch.Tensor]:
    """Probes whose weights sum to one over time: name → ``(segments, steps)``."""
    out = {}
    for name, value in expl.maps.items():
        if expl.axes.get(name, ("",))[0] == "time":
            t = _layers(value)[-1]
            if t.dim() == 2:
                out[name] = t
    return out


def key_attention(expl: Explanation) -> dict[str, list[torch.Tensor]]:
    """Transformer maps: name → per layer ``(segments, heads, queries, keys)``.

    One probe module used by every layer gives a list; one probe per layer gives several
    names (``encoder.0.self_attn.probe``, ...), kept in order.
    """
    out = {}
    for name, value in expl.maps.items():
        if expl.axes.get(name, ("",))[0] == "keys":
            layers = [t for t in _layers(value) if t.dim() == 4]
            if layers:
                out[name] = layers
    return out


def windows(expl: Explanation) -> dict[str, list[torch.Tensor]]:
    """Deformable windows: name → per layer ``(segments, heads, queries, 2)``."""
    return {name: [t for t in _layers(v) if t.dim() == 4] for name, v in expl.windows.items()}
