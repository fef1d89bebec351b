"""Seed 004's two-resolution mel-spectrograms, step by step.

Two mel spectrograms of the raw waveform, ``n_fft`` 256 (better time resolution) and 512
(better frequency resolution), hop 50 % and mel bands 25 % of ``n_fft``; each is resampled
along time to a target length by nearest-neighbour interpolation (the median length over
the training set, in the seed), then logged. :func:`mel_pair_steps` keeps every step for
the app; the ``mel_pair`` feature kind returns the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ser_core.features import functional as FF
from ser_core.features.configs import MelPairConfig
from ser_core.features.resize import interpolate_time_nearest

RESOLUTIONS = ("short", "long")


@dataclass
class MelPairSteps:
    """Per resolution (``"short"``, ``"long"``): ``sizes[r]`` = ``(n_fft, hop, n_mels)``,
    ``mel[r]`` the power mel at its natural length, ``interpolated[r]`` after the time
    interpolation (the same tensor when no target length is set), ``log[r]`` the result.
    Shapes ``(..., n_mels, frames)``."""

    config: MelPairConfig
    sample_rate: int
    sizes: dict
    mel: dict
    interpolated: dict
    log: dict


def mel_pair_steps(waveform: torch.Tensor, sample_rate: int,
                   config: Optional[MelPairConfig] = None, **params) -> MelPairSteps:
    """Both spectrograms of ``waveform`` ``(time,)`` or ``(batch, time)`` with every step."""
    cfg = config if config is not None else MelPairConfig()
    if params:
        cfg = cfg.replace(**params)
    x = torch.as_tensor(waveform).float()
    sr = int(sample_rate)
    f_max = sr / 2 if cfg.pair_f_max is None else min(float(cfg.pair_f_max), sr / 2)
    sizes, mel, interp, log = {}, {}, {}, {}
    for r in RESOLUTIONS:
        n_fft, hop, n_mels = cfg.resolution(r)
        fb = FF.mel_filterbank(sr, n_fft, n_mels, cfg.pair_f_min, f_max, cfg.pair_mel_scale,
                               cfg.pair_mel_norm, x.device, x.dtype)
        m = FF.spectrogram(x, n_fft, hop, n_fft, cfg.pair_window, True, cfg.pair_center,
                           "constant", power=2.0, filterbank=fb)
        target = cfg.n_frames_short if r == "short" else cfg.n_frames_long
        i = interpolate_time_nearest(m, int(target)) if target is not None else m
        sizes[r], mel[r], interp[r] = (n_fft, hop, n_mels), m, i
        log[r] = torch.log(i.clamp_min(cfg.pair_amin))
    return MelPairSteps(cfg, sr, sizes, mel, interp, log)


def mel_pair(x: torch.Tensor, sample_rate: int, cfg: MelPairConfig) -> dict:
    """``(batch, time)`` -> ``{"mel_short": (batch, 1, n_mels, T1), "mel_long": ...}``."""
    steps = mel_pair_steps(x, sample_rate, cfg)
    return {f"mel_{r}": steps.log[r].unsqueeze(-3) for r in RESOLUTIONS}
