"""The steps of seed 000 §3.1.1 / §3.2.1 as composable stages, and the teaching chain.

:func:`feature_chain` runs the whole chain once and returns every intermediate
(:class:`FeatureChain`): the app's Features page draws exactly these arrays, and the
feature kinds of :mod:`ser_core.features.pipeline` are built from the same stage functions,
so what a student sees is what a model eats.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch

from ser_core.features import functional as FF
from ser_core.features.configs import (ChainConfig, check_work_size, DeltaConfig, MelConfig, MfccConfig,
                                       PreemphasisConfig, SpectrogramConfig)


# --------------------------------------------------------------------------------------
# stages (batched: leading dimensions pass through)
# --------------------------------------------------------------------------------------
def prepare(x: torch.Tensor, cfg: PreemphasisConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(zscored, preemphasized)`` of ``(..., time)``; each is ``x`` itself when disabled."""
    z = FF.zscore(x) if cfg.zscore else x
    p = FF.preemphasis(z, cfg.preemphasis) if cfg.preemphasis else z
    return z, p


def frames_of(x: torch.Tensor, sample_rate: int, cfg: SpectrogramConfig) -> torch.Tensor:
    """Frames ``(..., n_frames, win)`` as the config says (a strided view where possible)."""
    return FF.frame(x, cfg.win_samples(sample_rate), cfg.hop_samples(sample_rate),
                    center=cfg.center, n_fft=cfg.fft_size(sample_rate), pad_mode=cfg.pad_mode)


def window_of(sample_rate: int, cfg: SpectrogramConfig, device=None,
              dtype=torch.float32) -> torch.Tensor:
    return FF.get_window(cfg.window, cfg.win_samples(sample_rate), cfg.periodic_window,
                         device or "cpu", dtype)


def power_spectrogram(x: torch.Tensor, sample_rate: int, cfg: SpectrogramConfig) -> torch.Tensor:
    """``|DFT|^power`` ``(..., n_fft // 2 + 1, n_frames)`` of a prepared waveform."""
    return FF.spectrogram(x, cfg.fft_size(sample_rate), cfg.hop_samples(sample_rate),
                          cfg.win_samples(sample_rate), window_of(sample_rate, cfg, x.device, x.dtype),
                          center=cfg.center, pad_mode=cfg.pad_mode, power=cfg.power)


def filterbank_of(sample_rate: int, cfg: MelConfig, device=None,
                  dtype=torch.float32) -> torch.Tensor:
    return FF.mel_filterbank(sample_rate, cfg.fft_size(sample_rate), cfg.n_mels, cfg.f_min,
                             cfg.mel_f_max(sample_rate), cfg.mel_scale, cfg.mel_norm,
                             device or "cpu", dtype)


def log_of(x: torch.Tensor, cfg: SpectrogramConfig) -> torch.Tensor:
    return FF.log_compress(x, cfg.log, cfg.amin, cfg.top_db)


def delta_of(x: torch.Tensor, cfg: DeltaConfig) -> torch.Tensor:
    if cfg.delta == "difference":
        return FF.first_difference(x)
    return FF.deltas(x, cfg.delta_width)


def log_mel(x: torch.Tensor, sample_rate: int, cfg: MelConfig) -> torch.Tensor:
    """Prepared waveform ``(..., time)`` -> log-mel ``(..., n_mels, n_frames)``."""
    return log_of(mel_spectrogram(x, sample_rate, cfg), cfg)


def mel_spectrogram(x: torch.Tensor, sample_rate: int, cfg: MelConfig) -> torch.Tensor:
    """Mel energies ``filterbank @ |DFT|^power`` ``(..., n_mels, n_frames)`` (fused, blocked)."""
    return FF.spectrogram(x, cfg.fft_size(sample_rate), cfg.hop_samples(sample_rate),
                          cfg.win_samples(sample_rate), window_of(sample_rate, cfg, x.device, x.dtype),
                          center=cfg.center, pad_mode=cfg.pad_mode, power=cfg.power,
                          filterbank=filterbank_of(sample_rate, cfg, x.device, x.dtype))


def mfcc_of(logmel: torch.Tensor, cfg: MfccConfig) -> torch.Tensor:
    return FF.mfcc(logmel, cfg.n_mfcc, cfg.dct_norm, cfg.lifter)


# --------------------------------------------------------------------------------------
# the teaching chain
# --------------------------------------------------------------------------------------
@dataclass
class FeatureChain:
    """Every intermediate of seed 000 §3.1.1 (+ §3.2.1 MFCC) for one clip or a batch.

    Shapes for a clip ``(time,)`` (a batch adds a leading dimension to all but ``window``
    and ``filterbank``):

    ``signal``, ``zscored``, ``preemphasized`` ``(time,)``; ``frames``, ``windowed``
    ``(n_frames, win_length)``; ``window`` ``(win_length,)``; ``spectrum`` (power)
    ``(n_fft // 2 + 1, n_frames)``; ``filterbank`` ``(n_mels, n_fft // 2 + 1)``; ``mel``,
    ``log_mel``, ``delta``, ``delta_delta`` ``(n_mels, n_frames)``; ``mfcc``
    ``(n_mfcc, n_frames)``.
    """

    config: MfccConfig
    sample_rate: int
    win_length: int
    hop_length: int
    n_fft: int
    signal: torch.Tensor
    zscored: torch.Tensor
    preemphasized: torch.Tensor
    frames: torch.Tensor
    window: torch.Tensor
    windowed: torch.Tensor
    spectrum: torch.Tensor
    filterbank: torch.Tensor
    mel: torch.Tensor
    log_mel: torch.Tensor
    delta: torch.Tensor
    delta_delta: torch.Tensor
    mfcc: torch.Tensor

    ARRAYS = ("signal", "zscored", "preemphasized", "frames", "window", "windowed", "spectrum",
              "filterbank", "mel", "log_mel", "delta", "delta_delta", "mfcc")

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[-2])

    def frame_times(self) -> torch.Tensor:
        """Time (s) of each frame's centre ``(n_frames,)`` in the original signal."""
        t = torch.arange(self.n_frames, dtype=torch.float64) * self.hop_length
        if not self.config.center:
            t = t + self.win_length / 2
        return (t / self.sample_rate).float()

    def frame_start(self, index: int) -> int:
        """First sample of frame ``index`` in the original signal (can be < 0 when centred)."""
        start = index * self.hop_length
        return start - self.win_length // 2 if self.config.center else start

    def fft_frequencies(self) -> torch.Tensor:
        return FF.fft_frequencies(self.sample_rate, self.n_fft)

    def mel_band_edges(self) -> torch.Tensor:
        """Boundary frequencies f[m] (Hz) of eq. 4, ``(n_mels + 2,)``."""
        c = self.config
        return FF.mel_band_edges(self.sample_rate, c.n_mels, c.f_min, c.mel_f_max(self.sample_rate),
                                 c.mel_scale)

    def as_dict(self) -> dict:
        """Arrays by name plus ``config`` (a dict) and the sizes in samples."""
        out = {name: getattr(self, name) for name in self.ARRAYS}
        out.update(config=dataclasses.asdict(self.config), sample_rate=self.sample_rate,
                   win_length=self.win_length, hop_length=self.hop_length, n_fft=self.n_fft)
        return out


def feature_chain(waveform: torch.Tensor, sample_rate: int,
                  config: Optional[MfccConfig] = None, **params) -> FeatureChain:
    """Run seed 000's chain on ``waveform`` ``(time,)`` or ``(batch, time)`` and keep every step.

    ``config`` defaults to :data:`ChainConfig` (seed 000: z-score, pre-emphasis 0.97, 25 ms
    symmetric Hamming / 10 ms, 40 HTK mel filters with area normalisation, ln, first
    differences, 40 MFCCs); ``params`` override single fields (``n_mels=64``...).
    """
    cfg = config if config is not None else ChainConfig()
    if params:
        cfg = cfg.replace(**params)
    x = torch.as_tensor(waveform, dtype=torch.float32) if not isinstance(waveform, torch.Tensor) \
        else waveform.float()
    check_work_size(cfg, x.shape[-1], int(sample_rate), x.shape[0] if x.dim() > 1 else 1)
    z, p = prepare(x, cfg)
    frames = frames_of(p, sample_rate, cfg)
    w = window_of(sample_rate, cfg, x.device, x.dtype)
    windowed = frames * w
    n_fft = cfg.fft_size(sample_rate)
    spectrum = FF.power_spectrum(windowed, n_fft, cfg.power)
    fb = filterbank_of(sample_rate, cfg, x.device, x.dtype)
    mel = FF.apply_filterbank(spectrum, fb)
    lm = log_of(mel, cfg)
    d = delta_of(lm, cfg)
    dd = delta_of(d, cfg)
    mf = mfcc_of(lm, cfg)
    return FeatureChain(config=cfg, sample_rate=int(sample_rate), win_length=cfg.win_samples(sample_rate),
                        hop_length=cfg.hop_samples(sample_rate), n_fft=n_fft, signal=x, zscored=z,
                        preemphasized=p, frames=frames, window=w, windowed=windowed,
                        spectrum=spectrum, filterbank=fb, mel=mel, log_mel=lm, delta=d,
                        delta_delta=dd, mfcc=mf)
