"""Segmenting utterances and combining segment posteriors (shared by training and inference).

The seeds train on fixed-length segments and predict an utterance by pooling its segments'
posteriors: ACRNN max-pools them (seed 000 §4.3.1), GLAM averages them (seed 000 §3.2).
"""

from __future__ import annotations

import math

import torch


def segment_waveform(waveform: torch.Tensor, sample_rate: int, segment_s: float | None,
                     hop_s: float | None = None) -> torch.Tensor:
    """Split a mono waveform ``(time,)`` into segments ``(n_segments, segment_samples)``.

    The last segment is zero-padded; a clip shorter than one segment gives one zero-padded
    segment. ``segment_s=None`` returns the whole clip as one segment ``(1, time)``.
    ``hop_s=None`` means no overlap.
    """
    if waveform.dim() != 1:
        raise ValueError(f"expected a mono waveform (time,), got shape {tuple(waveform.shape)}")
    if segment_s is None:
        return waveform.unsqueeze(0)
    seg = int(round(segment_s * sample_rate))
    hop = int(round((hop_s or segment_s) * sample_rate))
    if seg <= 0 or hop <= 0:
        raise ValueError("segment and hop must be positive")
    n = max(1, math.ceil(max(waveform.shape[0] - seg, 0) / hop) + 1)
    total = (n - 1) * hop + seg
    padded = torch.nn.functional.pad(waveform, (0, max(0, total - waveform.shape[0])))
    return padded.unfold(0, seg, hop).contiguous()


def segment_starts(n_segments: int, sample_rate: int, segment_s: float | None,
                   hop_s: float | None = None) -> list[float]:
    """Start time in seconds of each segment produced by :func:`segment_waveform`."""
    if segment_s is None:
        return [0.0]
    hop = (hop_s or segment_s)
    return [round(i * hop, 6) for i in range(n_segments)]


def aggregate_posteriors(segment_probs: torch.Tensor, how: str) -> torch.Tensor:
    """Combine ``(n_segments, classes)`` posteriors into one ``(classes,)`` distribution.

    ``"mean"`` averages; ``"max"`` takes the per-class maximum and renormalises to sum 1.
    """
    if segment_probs.dim() != 2:
        raise ValueError("expected (n_segments, classes)")
    if how == "mean":
        return segment_probs.mean(0)
    if how == "max":
        pooled = segment_probs.max(0).values
        return pooled / pooled.sum().clamp_min(1e-12)
    raise ValueError(f"unknown aggregation {how!r}")
