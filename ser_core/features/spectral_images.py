"""Seed 002's NxN spectral images, step by step.

Pre-emphasis -> trim zeros -> spectral feature (mel spectrogram, STFT chromagram or MFCC) ->
amplitude to dB -> N x N bilinear resize (the seed's Fig. 1). :func:`spectral_image_steps`
keeps every step for the app; the ``spectral_image`` feature kind is its ``image``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ser_core.features import chain as C
from ser_core.features import functional as FF
from ser_core.features.chroma import chroma_filterbank, normalize_frames
from ser_core.features.configs import SpectralImageConfig
from ser_core.features.resize import resize_bilinear


@dataclass
class SpectralImageSteps:
    """Every step for one clip. ``feature`` is what the spectral function gives (power mel,
    chroma in [0, 1], or MFCC), ``db`` its dB version ``(freq, frames)`` (MFCC: unchanged,
    already logarithmic), ``image`` the ``(size, size)`` result."""

    config: SpectralImageConfig
    sample_rate: int
    preemphasized: torch.Tensor
    trimmed: torch.Tensor
    feature: torch.Tensor
    db: torch.Tensor
    image: torch.Tensor


def chroma_energies(p: torch.Tensor, sample_rate: int, cfg) -> torch.Tensor:
    """Normalised STFT chromagram ``(..., n_chroma, frames)`` of a prepared waveform."""
    sr = sample_rate
    fb = chroma_filterbank(sr, cfg.fft_size(sr), cfg.n_chroma, cfg.tuning, p.device, p.dtype)
    raw = FF.spectrogram(p, cfg.fft_size(sr), cfg.hop_samples(sr), cfg.win_samples(sr),
                         cfg.window, cfg.periodic_window, cfg.center, cfg.pad_mode, power=2.0,
                         filterbank=fb)
    return normalize_frames(raw, getattr(cfg, "chroma_norm", "max"))


def spectral_image_steps(waveform: torch.Tensor, sample_rate: int,
                         config: Optional[SpectralImageConfig] = None, **params) -> SpectralImageSteps:
    """Seed 002's pre-processing of one clip ``(time,)`` with every intermediate."""
    cfg = config if config is not None else SpectralImageConfig()
    if params:
        cfg = cfg.replace(**params)
    x = torch.as_tensor(waveform).float()
    if x.dim() != 1:
        raise ValueError("spectral_image_steps works on one clip (time,)")
    p = C.prepare(x, cfg)[1]
    trimmed = FF.trim_zeros(p) if cfg.trim_zeros else p
    if trimmed.numel() == 0:  # all zeros: keep the signal rather than nothing
        trimmed = p
    if cfg.source == "chroma":
        feature = chroma_energies(trimmed, sample_rate, cfg)
        db = FF.amplitude_to_db(feature, ref="max", top_db=cfg.top_db)
    else:
        feature = C.mel_spectrogram(trimmed, sample_rate, cfg)
        if cfg.source == "mel":
            db = FF.power_to_db(feature, ref="max", amin=cfg.amin, top_db=cfg.top_db)
        else:  # MFCC of the dB mel, as librosa.feature.mfcc; no second dB step
            feature = C.mfcc_of(FF.power_to_db(feature, ref=1.0, amin=cfg.amin, top_db=cfg.top_db), cfg)
            db = feature
    image = resize_bilinear(db, int(cfg.size), antialias=cfg.antialias)
    return SpectralImageSteps(cfg, int(sample_rate), p, trimmed, feature, db, image)


def spectral_images(x: torch.Tensor, sample_rate: int, cfg: SpectralImageConfig) -> torch.Tensor:
    """``(batch, time)`` -> ``(batch, 1, size, size)``; one clip at a time (trimming makes
    their lengths differ)."""
    return torch.stack([spectral_image_steps(clip, sample_rate, cfg).image for clip in x]).unsqueeze(1)
