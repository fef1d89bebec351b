"""Segmenting utterances and combining segment posteriors (shared by training and inference).

The seeds train on fixed-length segments and predict an utterance by pooling its segments'
posteriors: ACRNN max-pools them (seed 000 §4.3.1), GLAM averages them (seed 000 §3.2).
"""

from __future__ import annotations

import math

import torch


def segment_waveform(waveform: torch.Tensor, sample_rate: int, segment_s: float | None,
                     hop_s: float | None = None, min_tail: float = 0.0) -> torch.Tensor:
    """Split a mono waveform ``(time,)`` into segments ``(n_segments, segment_samples)``.

    The last segment is zero-padded; a clip shorter than one segment gives one zero-padded
    segment. ``segment_s=None`` returns the whole clip as one segment ``(1, time)``.
    ``hop_s=None`` means no overlap. ``min_tail``: a last segment with less than this share
    of real audio (the rest zero padding) is not cut, unless it is the only one (a 3.01 s
    clip in 3 s segments gives one segment, not a second one of 10 ms and 2.99 s of padding).
    """
    if waveform.dim() != 1:
        raise ValueError(f"expected a mono waveform (time,), got shape {tuple(waveform.shape)}")
    if segment_s is None:
        return waveform.unsqueeze(0)
    seg = int(round(segment_s * sample_rate))
    hop = int(round((hop_s or segment_s) * sample_rate))
    if seg <= 0 or hop <= 0:
        raise ValueError("segment and hop must be positive")
    n = segment_count(waveform.shape[0], seg, hop, min_tail)
    total = (n - 1) * hop + seg
    padded = torch.nn.functional.pad(waveform, (0, max(0, total - waveform.shape[0])))
    return padded[:total].unfold(0, seg, hop).contiguous()


def valid_samples(segments: torch.Tensor) -> torch.Tensor:
    """Length of each row of ``(..., time)`` up to its last non-zero sample (at least 1): a
    segment's real audio without the zero padding :func:`segment_waveform` adds."""
    position = torch.arange(1, segments.shape[-1] + 1, device=segments.device)
    return ((segments != 0) * position).amax(dim=-1).clamp(min=1)


def keep_padding(augmented: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``augmented`` with zeros wherever ``clean`` (the same segments before augmentation) is
    trailing zero padding: noise and reverberation added to a training segment must not fill
    the padding that inference leaves silent."""
    real = torch.arange(clean.shape[-1], device=clean.device) < valid_samples(clean)[..., None]
    return augmented * real


def center_time(features, valid_share: torch.Tensor):
    """Subtract from each bin of ``(batch, *bins, time)`` features its mean over the first
    ``ceil(valid_share * time)`` frames of its row (the frames of real audio; every frame
    is shifted). A dict is centred tensor by tensor; tensors without bins (``dim < 3``: vectors,
    or ``(batch, 1, time)`` waveforms) are returned as they are."""
    if isinstance(features, dict):
        return {k: center_time(v, valid_share) for k, v in features.items()}
    if features.dim() < 3 or features.shape[-2] < 2:
        return features
    frames = features.shape[-1]
    keep = torch.ceil(valid_share.to(features.device) * frames).clamp(1, frames)
    mask = (torch.arange(frames, device=features.device) < keep[:, None]).to(features.dtype)
    mask = mask.reshape(mask.shape[0], *([1] * (features.dim() - 2)), frames)
    mean = (features * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True)
    return features - mean


def segment_count(n_samples: int, seg: int, hop: int, min_tail: float = 0.0) -> int:
    """How many ``seg``-sample segments every ``hop`` samples cover ``n_samples``; the last
    one is left out when less than ``min_tail`` of it is real audio (and it is not the only
    one). Only a last segment can fall short: the one before it always ends inside the clip."""
    n = max(1, math.ceil(max(n_samples - seg, 0) / hop) + 1)
    if n > 1 and (n_samples - (n - 1) * hop) < min_tail * seg:
        n -= 1
    return n


def segment_starts(n_segments: int, sample_rate: int, segment_s: float | None,
                   hop_s: float | None = None) -> list[float]:
    """Start time in seconds of each segment produced by :func:`segment_waveform`."""
    if segment_s is None:
        return [0.0]
    hop = (hop_s or segment_s)
    return [round(i * hop, 6) for i in range(n_segments)]


def segment_fill(mask: torch.Tensor, sample_rate: int, segment_s: float | None,
                 hop_s: float | None = None, min_tail: float = 0.0) -> torch.Tensor:
    """``(n_segments,)``: the share of each segment that ``mask`` ``(time,)`` marks (1 = real,
    or speech), cut exactly as :func:`segment_waveform` cuts the clip; zero padding counts 0."""
    return segment_waveform(mask.float(), sample_rate, segment_s, hop_s, min_tail).mean(dim=1)


#: A segment votes when at least this share of it is speech (and not zero padding).
MIN_SEGMENT_FILL = 0.5


def voting_segments(fill: torch.Tensor, min_fill: float = MIN_SEGMENT_FILL) -> torch.Tensor:
    """Boolean ``(n_segments,)``: segments with ``fill >= min_fill``; when none has, the one
    with the most (so that every clip keeps one vote)."""
    keep = fill >= min_fill
    if not bool(keep.any()):
        keep = torch.zeros_like(keep)
        keep[int(fill.argmax())] = True
    return keep


def aggregate_posteriors(segment_probs: torch.Tensor, how: str,
                         keep: torch.Tensor | None = None) -> torch.Tensor:
    """Combine ``(n_segments, classes)`` posteriors into one ``(classes,)`` distribution.

    ``"mean"`` averages; ``"max"`` takes the per-class maximum and renormalises to sum 1.
    ``keep`` (boolean ``(n_segments,)``, see :func:`voting_segments`) pools only those segments.
    """
    if segment_probs.dim() != 2:
        raise ValueError("expected (n_segments, classes)")
    if keep is not None:
        segment_probs = segment_probs[keep.to(segment_probs.device)]
    if how == "mean":
        return segment_probs.mean(0)
    if how == "max":
        pooled = segment_probs.max(0).values
        return pooled / pooled.sum().clamp_min(1e-12)
    raise ValueError(f"unknown aggregation {how!r}")
