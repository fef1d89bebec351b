"""Utterance functionals in the spirit of eGeMAPS: one fixed-length vector per clip.

Eyben et al. (2016), "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)", describe a
small set of frame-level descriptors (pitch, loudness, jitter, shimmer, harmonics-to-noise
ratio, spectral slope and balance, formant-region energies, MFCCs) and the statistics over
an utterance that summarise them. This module computes such a set with the project's own
torch code and ``librosa.yin`` for F0 (openSMILE is not used; its Python package is under a
non-commercial licence). It is an approximation of eGeMAPS, not a reimplementation:

* F0: ``librosa.yin`` (60-500 Hz) on 64 ms frames every 10 ms. A frame is *voiced* when it is
  speech (energy within ``speech_floor_db`` of the clip's loudest frame) and the normalised
  autocorrelation of a 40 ms window at the YIN period exceeds ``voicing_threshold``.
* HNR: ``10·log10(r / (1 - r))`` of that autocorrelation ``r`` (Boersma's formula).
* Jitter and shimmer are frame-level approximations (eGeMAPS measures them cycle by cycle):
  jitter is the mean absolute difference of the YIN periods of consecutive voiced frames over
  the mean period; shimmer the mean absolute dB difference of consecutive voiced frames' peak
  amplitudes.
* Loudness: sum over 26 mel bands of band power ^ 0.3 (a Stevens-law auditory loudness, as
  openSMILE's ``loudness`` is computed from its auditory spectrum).
* Spectral: alpha ratio (50-1000 Hz vs 1-5 kHz), Hammarberg index (peak 0-2 kHz vs 2-5 kHz),
  spectral slopes 0-500 Hz and 500-1500 Hz (dB per kHz), energy share of the formant regions
  F1 (250-900 Hz), F2 (900-2500 Hz), F3 (2500-3500 Hz) and 3.5-5 kHz, spectral centroid and
  flux; voiced-frame mean and deviation, unvoiced-frame mean for balance and slopes.
* MFCC 1-13 and their regression deltas (26 HTK mel bands), mean and deviation over speech.
* Log-mel band means and deviations over speech (26 bands).
* Temporal: speech share of the clip, voiced share of speech, voiced segments per second,
  mean and deviation of voiced and unvoiced segment lengths, pauses per second.

Statistics of a descriptor with no frame to average (a clip without a voiced frame) are 0;
the voiced share says so. The output of :func:`acoustic_functionals` is ``(batch, D)``; the
names of the ``D`` columns are :func:`functional_names`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ser_core.features import functional as FF
from ser_core.features.configs import FeatureConfig, _check

F0_REF_HZ = 27.5          # semitone reference (eGeMAPS)
FORMANT_BANDS = ((250.0, 900.0), (900.0, 2500.0), (2500.0, 3500.0), (3500.0, 5000.0))


@dataclass(frozen=True)
class AcousticFunctionalsConfig(FeatureConfig):
    """Frames, pitch range and thresholds of the utterance functionals.

    Band-limited to 5.5 kHz and level-normalised by default, like the shipped checkpoints'
    inputs (RAVDESS, Emo-DB and CREMA-D here are 11 025 Hz copies).
    """

    lowpass_hz: float | None = 5500.0
    gain_normalize: bool = True
    win_length_s: float = 0.025
    hop_s: float = 0.010
    f0_min: float = 60.0
    f0_max: float = 500.0
    yin_frame_s: float = 0.064
    voicing_window_s: float = 0.040
    voicing_threshold: float = 0.6
    speech_floor_db: float = 40.0
    noise_margin_db: float = 10.0
    n_mels: int = 26
    n_mfcc: int = 13

    def validate(self) -> None:
        super().validate()
        _check(0 < self.win_length_s < 0.2 and 0 < self.hop_s <= self.win_length_s,
               "functionals need 0 < hop_s <= win_length_s < 0.2 s.")
        _check(20.0 <= self.f0_min < self.f0_max <= 1000.0, "need 20 <= f0_min < f0_max <= 1000 Hz.")
        _check(self.voicing_window_s > 1.0 / self.f0_min,
               "voicing_window_s must be longer than the longest pitch period (1 / f0_min).")
        _check(0.0 < self.voicing_threshold < 1.0, "voicing_threshold must be in (0, 1).")
        _check(self.speech_floor_db > 0, "speech_floor_db must be positive.")
        _check(self.noise_margin_db >= 0, "noise_margin_db must be >= 0.")
        _check(2 <= int(self.n_mfcc) <= int(self.n_mels), "need 2 <= n_mfcc <= n_mels.")


# ---------------------------------------------------------------------------------------
# masked statistics over frames: x (B, N) or (B, K, N), mask (B, N) bool
# ---------------------------------------------------------------------------------------
def _mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask if x.dim() == 2 else mask[:, None, :]
    n = m.sum(-1).clamp_min(1)
    return (x * m).sum(-1) / n


def _std(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask if x.dim() == 2 else mask[:, None, :]
    mu = _mean(x, mask)
    return torch.sqrt((((x - mu[..., None]) ** 2) * m).sum(-1) / m.sum(-1).clamp_min(1))


def _quantiles(x: torch.Tensor, mask: torch.Tensor, q=(0.2, 0.5, 0.8)) -> torch.Tensor:
    """``(B, len(q))`` quantiles of ``x`` (B, N) over masked frames (0 where none)."""
    v = torch.where(mask, x, torch.full_like(x, float("nan")))
    out = torch.nanquantile(v, torch.tensor(q, dtype=x.dtype), dim=-1).T
    return torch.nan_to_num(out, nan=0.0)


def _slopes(x: torch.Tensor, mask: torch.Tensor, hop_s: float) -> torch.Tensor:
    """Mean rising and mean falling slope (units per second) between consecutive masked frames."""
    d = (x[:, 1:] - x[:, :-1]) / hop_s
    pair = mask[:, 1:] & mask[:, :-1]
    return torch.stack([_mean(d.clamp_min(0), pair & (d > 0)),
                        _mean((-d).clamp_min(0), pair & (d < 0))], dim=-1)


def _trend(x: torch.Tensor, mask: torch.Tensor, hop_s: float) -> torch.Tensor:
    """Least-squares slope of ``x`` over time (units per second) on masked frames."""
    t = torch.arange(x.shape[-1], dtype=x.dtype) * hop_s
    t = t.expand_as(x)
    tm, xm = _mean(t, mask), _mean(x, mask)
    cov = _mean((t - tm[:, None]) * (x - xm[:, None]), mask)
    var = _mean((t - tm[:, None]) ** 2, mask)
    return torch.where(var > 0, cov / var.clamp_min(1e-12), torch.zeros_like(var))


def _runs(mask: np.ndarray) -> tuple[list[int], list[int]]:
    """Lengths (frames) of the runs of True and of False inside a boolean row."""
    if mask.size == 0:
        return [], []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [mask.size]])
    lengths = np.diff(bounds)
    values = mask[bounds[:-1]]
    return lengths[values].tolist(), lengths[~values].tolist()


def speech_frames(energy_db: torch.Tensor, cfg: AcousticFunctionalsConfig) -> torch.Tensor:
    """Frames ``(B, N)`` that are speech: within ``speech_floor_db`` of the loudest frame and
    ``noise_margin_db`` above the clip's noise floor (its 5th-percentile frame energy), the
    threshold never above 10 dB below the loudest frame. A corpus recorded with a noise floor
    (CREMA-D) otherwise counts its pauses as speech."""
    top = energy_db.amax(-1, keepdim=True)
    floor = torch.quantile(energy_db, 0.05, dim=-1, keepdim=True)
    threshold = torch.minimum(torch.maximum(top - cfg.speech_floor_db, floor + cfg.noise_margin_db),
                              top - 10.0)
    return energy_db > threshold


# ---------------------------------------------------------------------------------------
# frame-level descriptors
# ---------------------------------------------------------------------------------------
def _yin_f0(x: torch.Tensor, sr: int, cfg: AcousticFunctionalsConfig, n_frames: int) -> torch.Tensor:
    import librosa

    frame = max(int(round(cfg.yin_frame_s * sr)), int(2 * sr / cfg.f0_min) + 2)
    hop = int(round(cfg.hop_s * sr))
    rows = []
    for row in x.detach().cpu().double().numpy():
        f0 = librosa.yin(row, fmin=cfg.f0_min, fmax=cfg.f0_max, sr=sr, frame_length=frame,
                         hop_length=hop, center=True)
        f0 = np.pad(f0, (0, max(0, n_frames - f0.size)), mode="edge")[:n_frames]
        rows.append(f0)
    return torch.as_tensor(np.stack(rows), dtype=torch.float32)


def _periodicity(x: torch.Tensor, sr: int, cfg: AcousticFunctionalsConfig, f0: torch.Tensor):
    """Normalised autocorrelation at the F0 period ``(B, N)`` and peak amplitude ``(B, N)``."""
    win = int(round(cfg.voicing_window_s * sr))
    hop = int(round(cfg.hop_s * sr))
    frames = FF.frame(x, win, hop, center=True, n_fft=win)[:, : f0.shape[-1]]   # (B, N, W)
    lag = (sr / f0.clamp_min(1.0)).round().long().clamp(1, win - 1)            # (B, N)
    idx = torch.arange(win)[None, None, :] + lag[..., None]
    valid = idx < win
    shifted = frames.gather(-1, idx.clamp(max=win - 1)) * valid
    head = frames * valid
    num = (head * shifted).sum(-1)
    den = torch.sqrt((head ** 2).sum(-1) * (shifted ** 2).sum(-1)).clamp_min(1e-12)
    return (num / den).clamp(-1.0, 1.0), frames.abs().amax(-1)


def _band(freqs: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return (freqs >= lo) & (freqs < hi)


def _spectral(power: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Per-frame spectral descriptors ``(B, 10, N)`` from a power spectrogram ``(B, F, N)``."""
    eps = 1e-10
    db = 10 * torch.log10(power + eps)

    def energy(lo, hi):
        return power[:, _band(freqs, lo, hi)].sum(1) + eps

    def slope(lo, hi):  # least squares dB over kHz inside [lo, hi)
        sel = _band(freqs, lo, hi)
        f = freqs[sel] / 1000.0
        fc = f - f.mean()
        return (db[:, sel] * fc[None, :, None]).sum(1) / (fc ** 2).sum()

    total = energy(0.0, 5000.0)
    alpha = 10 * torch.log10(energy(50.0, 1000.0) / energy(1000.0, 5000.0))
    hammarberg = db[:, _band(freqs, 0, 2000)].amax(1) - db[:, _band(freqs, 2000, 5000)].amax(1)
    regions = [10 * torch.log10(energy(lo, hi) / total) for lo, hi in FORMANT_BANDS]
    centroid = (power * freqs[None, :, None]).sum(1) / (power.sum(1) + eps) / 1000.0
    norm = power / (power.sum(1, keepdim=True) + eps)
    flux = torch.cat([torch.zeros_like(norm[:, 0, :1]),
                      ((norm[..., 1:] - norm[..., :-1]) ** 2).sum(1)], dim=-1)
    return torch.stack([alpha, hammarberg, slope(0, 500), slope(500, 1500), *regions,
                        centroid, flux], dim=1)


SPECTRAL_NAMES = ("alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500", "energy_f1_region",
                  "energy_f2_region", "energy_f3_region", "energy_3500_5000", "centroid_khz", "flux")
BALANCE = 4  # the first four spectral descriptors also get an unvoiced mean (as eGeMAPS)


def _temporal(voiced: torch.Tensor, speech: torch.Tensor, hop_s: float) -> torch.Tensor:
    rows = []
    for v, s in zip(voiced.numpy(), speech.numpy()):
        dur = max(v.size * hop_s, hop_s)
        speech_s = max(s.sum() * hop_s, hop_s)
        on, off = _runs(v[s] if s.any() else v[:0])
        _, pauses = _runs(s)
        on_s, off_s = np.array(on or [0]) * hop_s, np.array(off or [0]) * hop_s
        rows.append([s.sum() * hop_s / dur, v.sum() / max(s.sum(), 1), len(on) / speech_s,
                     on_s.mean(), on_s.std(), off_s.mean(), off_s.std(), len(pauses) / dur])
    return torch.tensor(rows, dtype=torch.float32)


TEMPORAL_NAMES = ("speech_share", "voiced_share", "voiced_segments_per_s", "voiced_len_mean_s",
                  "voiced_len_std_s", "unvoiced_len_mean_s", "unvoiced_len_std_s", "pauses_per_s")


# ---------------------------------------------------------------------------------------
# the feature kind
# ---------------------------------------------------------------------------------------
def acoustic_functionals(x: torch.Tensor, sr: int, cfg: AcousticFunctionalsConfig) -> torch.Tensor:
    """Functionals ``(B, D)`` of waveforms ``(B, time)`` at ``sr`` (see the module docstring)."""
    x = x.float().cpu()
    hop = int(round(cfg.hop_s * sr))
    win = int(round(cfg.win_length_s * sr))
    n_fft = FF.next_pow2(win)
    power = FF.spectrogram(x, n_fft, hop, win, FF.get_window("hann", win, True), center=True,
                           power=2.0)                                                # (B, F, N)
    n = power.shape[-1]
    freqs = FF.fft_frequencies(sr, n_fft).to(power.dtype)
    fb = FF.mel_filterbank(sr, n_fft, int(cfg.n_mels), 0.0, min(sr / 2, cfg.lowpass_hz or sr / 2),
                           "htk", None)
    mel = FF.apply_filterbank(power, fb)
    energy_db = 10 * torch.log10(power.sum(1) / n_fft + 1e-10)
    speech = speech_frames(energy_db, cfg)

    f0 = _yin_f0(x, sr, cfg, n)
    r, peak = _periodicity(x, sr, cfg, f0)
    voiced = speech & (r > cfg.voicing_threshold)
    unvoiced = speech & ~voiced
    semitone = 12 * torch.log2(f0.clamp_min(1.0) / F0_REF_HZ)
    hnr = 10 * torch.log10(r.clamp(1e-3, 0.999) / (1 - r.clamp(1e-3, 0.999)))
    loud = (mel.clamp_min(0) ** 0.3).sum(1)
    log_mel = torch.log(mel + 1e-10)
    cep = FF.mfcc(log_mel, int(cfg.n_mfcc))[:, 1:]
    dcep = FF.deltas(cep, 5)

    pair = voiced[:, 1:] & voiced[:, :-1]
    period = 1.0 / f0.clamp_min(1.0)
    jitter = _mean((period[:, 1:] - period[:, :-1]).abs(), pair) / _mean(period, voiced).clamp_min(1e-6)
    amp_db = 20 * torch.log10(peak.clamp_min(1e-8))
    shimmer = _mean((amp_db[:, 1:] - amp_db[:, :-1]).abs(), pair)
    spec = _spectral(power, freqs)

    parts = [
        _mean(semitone, voiced)[:, None], _std(semitone, voiced)[:, None],
        _quantiles(semitone, voiced), (_quantiles(semitone, voiced)[:, 2] - _quantiles(semitone, voiced)[:, 0])[:, None],
        _trend(semitone, voiced, cfg.hop_s)[:, None], _slopes(semitone, voiced, cfg.hop_s),
        jitter[:, None], shimmer[:, None], _mean(hnr, voiced)[:, None], _std(hnr, voiced)[:, None],
        _mean(loud, speech)[:, None], _std(loud, speech)[:, None], _quantiles(loud, speech),
        (_quantiles(loud, speech)[:, 2] - _quantiles(loud, speech)[:, 0])[:, None],
        _slopes(loud, speech, cfg.hop_s),
        _mean(spec, voiced), _std(spec, voiced), _mean(spec[:, :BALANCE], unvoiced),
        _mean(cep, speech), _std(cep, speech), _mean(dcep, speech), _std(dcep, speech),
        _mean(log_mel, speech), _std(log_mel, speech),
        _temporal(voiced, speech, cfg.hop_s),
    ]
    out = torch.cat([p.float() for p in parts], dim=-1)
    return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def functional_names(cfg: AcousticFunctionalsConfig | None = None) -> list[str]:
    """Names of the columns :func:`acoustic_functionals` returns, in order."""
    cfg = cfg or AcousticFunctionalsConfig()
    q = ("p20", "p50", "p80")
    names = ["f0_st_mean", "f0_st_std", *[f"f0_st_{p}" for p in q], "f0_st_range_p20_p80",
             "f0_st_trend_per_s", "f0_rise_st_per_s", "f0_fall_st_per_s", "jitter_rel",
             "shimmer_db", "hnr_db_mean", "hnr_db_std", "loudness_mean", "loudness_std",
             *[f"loudness_{p}" for p in q], "loudness_range_p20_p80", "loudness_rise_per_s",
             "loudness_fall_per_s"]
    names += [f"{s}_voiced_mean" for s in SPECTRAL_NAMES] + [f"{s}_voiced_std" for s in SPECTRAL_NAMES]
    names += [f"{s}_unvoiced_mean" for s in SPECTRAL_NAMES[:BALANCE]]
    k = int(cfg.n_mfcc) - 1
    for what in ("mfcc", "mfcc_delta"):
        names += [f"{what}{i}_mean" for i in range(1, k + 1)] + [f"{what}{i}_std" for i in range(1, k + 1)]
    names += [f"logmel{i}_mean" for i in range(int(cfg.n_mels))] + \
             [f"logmel{i}_std" for i in range(int(cfg.n_mels))]
    return names + list(TEMPORAL_NAMES)


def n_functionals(cfg: AcousticFunctionalsConfig | None = None) -> int:
    return len(functional_names(cfg))

