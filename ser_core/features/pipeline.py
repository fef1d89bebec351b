"""Feature kinds: a registry from a name to (config dataclass, batched extractor).

The contract used by models (``InputSpec.feature`` / ``params``), training, inference, the
app and the CLI::

    cfg = feature_config("logmel_deltas", n_mels=64)      # resolved frozen dataclass
    x = extract("logmel_deltas", waveform, 16000, n_mels=64)
    x = extract("logmel_deltas", waveform, 16000, config=cfg)   # the same
    cfg == feature_config(kind, **dataclasses.asdict(cfg))       # checkpoint round trip

``waveform`` is a mono float tensor ``(time,)`` or a batch ``(batch, time)`` (numpy is
accepted); the result lives on the waveform's device. Spectral kinds return
``(channels, freq, time)`` for one clip and ``(batch, channels, freq, time)`` for a batch;
waveform kinds return ``(1, time)`` / ``(batch, 1, time)``; the 39-d MFCC sequence of seed
004 (``mfcc_deltas`` and ``dual_level["mfcc"]``) is ``(39, frames)`` / ``(batch, 39,
frames)`` (no channel axis: an LSTM input); multi-input kinds return a ``dict`` of tensors. :data:`FEATURE_KINDS` lists every kind with its config class,
seed and output description.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np
import torch

from ser_core.errors import ConfigError
from ser_core.features import chain as C
from ser_core.features import functional as FF
from ser_core.features.configs import (check_work_size, ChromaConfig, DeltaConfig, DualLevelConfig, FeatureConfig,
                                       MelConfig, MelPairConfig, Mfcc39Config, MfccConfig,
                                       MfccImageConfig, PreemphasisConfig, SpectralImageConfig,
                                       SpectrogramConfig, WaveformConfig)
from ser_core.features.functionals import AcousticFunctionalsConfig, acoustic_functionals
from ser_core.features.mel_pair import mel_pair
from ser_core.features.segments import center_time, valid_samples
from ser_core.features.resize import fix_frames
from ser_core.features.spectral_images import chroma_energies, spectral_images

Features = Union[torch.Tensor, dict]


@dataclass(frozen=True)
class FeatureKind:
    """One registered feature kind. ``compute(x, sample_rate, cfg)`` takes ``(batch, time)``."""

    name: str
    config_cls: type
    compute: Callable[[torch.Tensor, int, Any], Features]
    description: str
    seed: str
    output: str


# --------------------------------------------------------------------------------------
# extractors: x is (batch, time) float32
# --------------------------------------------------------------------------------------
def _waveform(x, sr, cfg: PreemphasisConfig):
    return C.prepare(x, cfg)[1].unsqueeze(1)


def _spectrogram(x, sr, cfg: SpectrogramConfig):
    p = C.prepare(x, cfg)[1]
    return C.log_of(C.power_spectrogram(p, sr, cfg), cfg).unsqueeze(1)


def _logmel(x, sr, cfg: MelConfig):
    return C.log_mel(C.prepare(x, cfg)[1], sr, cfg).unsqueeze(1)


def _delta(x, sr, cfg: DeltaConfig):
    return C.delta_of(C.log_mel(C.prepare(x, cfg)[1], sr, cfg), cfg).unsqueeze(1)


def _delta2(x, sr, cfg: DeltaConfig):
    lm = C.log_mel(C.prepare(x, cfg)[1], sr, cfg)
    return C.delta_of(C.delta_of(lm, cfg), cfg).unsqueeze(1)


def _logmel_deltas(x, sr, cfg: DeltaConfig):
    lm = C.log_mel(C.prepare(x, cfg)[1], sr, cfg)
    d = C.delta_of(lm, cfg)
    return torch.stack([lm, d, C.delta_of(d, cfg)], dim=1)


def _mfcc(x, sr, cfg: MfccConfig):
    m = C.mfcc_of(C.log_mel(C.prepare(x, cfg)[1], sr, cfg), cfg)
    if cfg.n_frames is not None:
        m = fix_frames(m, int(cfg.n_frames))
    return m.unsqueeze(1)


def _mfcc_deltas(x, sr, cfg: MfccConfig):
    m = C.mfcc_of(C.log_mel(C.prepare(x, cfg)[1], sr, cfg), cfg)
    d = C.delta_of(m, cfg)
    out = torch.cat([m, d, C.delta_of(d, cfg)], dim=-2)
    if cfg.n_frames is not None:
        out = fix_frames(out, int(cfg.n_frames))
    return out  # a sequence of 39-d vectors: (batch, 39, frames), no channel axis


def _chroma(x, sr, cfg: ChromaConfig):
    return C.log_of(chroma_energies(C.prepare(x, cfg)[1], sr, cfg), cfg).unsqueeze(1)


def _spectral_image(x, sr, cfg: SpectralImageConfig):
    return spectral_images(x, sr, cfg)


def _mel_pair(x, sr, cfg: MelPairConfig):
    return mel_pair(x, sr, cfg)


def _dual_level(x, sr, cfg: DualLevelConfig):
    return {"mfcc": _mfcc_deltas(x, sr, cfg), **mel_pair(x, sr, cfg)}


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------
def _kind(name, cls, fn, seed, output, description) -> FeatureKind:
    return FeatureKind(name, cls, fn, description, seed, output)


FEATURE_KINDS: dict[str, FeatureKind] = {k.name: k for k in (
    _kind("waveform", WaveformConfig, _waveform, "001 §4", "(1, time)",
          "raw waveform (optionally z-scored / pre-emphasised)"),
    _kind("preemphasis", PreemphasisConfig, _waveform, "000 §3.1.1", "(1, time)",
          "z-scored, pre-emphasised waveform (Figs. 3-4)"),
    _kind("spectrogram", SpectrogramConfig, _spectrogram, "000 §3.1.1", "(1, n_fft/2+1, frames)",
          "power spectrum |DFT|² of 25 ms Hamming frames every 10 ms (Fig. 5)"),
    _kind("logmel", MelConfig, _logmel, "000 §3.1.1", "(1, n_mels, frames)",
          "log-mel spectrogram, 40 filters (eqs. 2-6, Fig. 7)"),
    _kind("delta", DeltaConfig, _delta, "000 §3.1.1", "(1, n_mels, frames)",
          "delta of the log-mel (eq. 7, Fig. 8)"),
    _kind("delta2", DeltaConfig, _delta2, "000 §3.1.1", "(1, n_mels, frames)",
          "delta-delta of the log-mel (eq. 8, Fig. 9)"),
    _kind("logmel_deltas", DeltaConfig, _logmel_deltas, "000 §3.1.1", "(3, n_mels, frames)",
          "static log-mel, delta, delta-delta as 3 channels (ACRNN input)"),
    _kind("mfcc", MfccConfig, _mfcc, "000 §3.2.1", "(1, n_mfcc, frames)",
          "MFCC by DCT of the log-mel (eq. 18, Fig. 22; GLAM input)"),
    _kind("mfcc_image", MfccImageConfig, _mfcc, "003", "(1, 40, 282)",
          "MFCC 40 x 282 image of a 3 s clip (parallel CNN + transformer input)"),
    _kind("mfcc_deltas", Mfcc39Config, _mfcc_deltas, "004 §2.2", "(39, frames)",
          "13 MFCC + 13 delta + 13 acceleration per 25 ms frame (M_LSTM input)"),
    _kind("chroma", ChromaConfig, _chroma, "002", "(1, 12, frames)", "STFT chromagram"),
    _kind("spectral_image", SpectralImageConfig, _spectral_image, "002", "(1, N, N)",
          "pre-emphasis, trim zeros, mel/chroma/MFCC, dB, N x N bilinear resize"),
    _kind("mel_pair", MelPairConfig, _mel_pair, "004 §2.2",
          "{mel_short: (1, 64, T1), mel_long: (1, 128, T2)}",
          "two log-mel spectrograms, n_fft 256 and 512, nearest-neighbour time interpolation"),
    _kind("dual_level", DualLevelConfig, _dual_level, "004 §2.3",
          "{mfcc: (39, T), mel_short: (1, 64, T1), mel_long: (1, 128, T2)}",
          "seed 004's whole input: 39-d MFCC and the mel pair"),
    _kind("acoustic_functionals", AcousticFunctionalsConfig, acoustic_functionals, "eGeMAPS-like",
          "(D,)", "utterance statistics: F0, loudness, jitter, shimmer, HNR, spectral balance, "
          "formant regions, MFCC/Δ, log-mel, voicing (features/functionals.py)"),
)}


def get_kind(kind: str) -> FeatureKind:
    try:
        return FEATURE_KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown feature kind {kind!r}; known kinds are "
                          f"{', '.join(FEATURE_KINDS)}.") from None


def feature_config(kind: str, **params) -> FeatureConfig:
    """The resolved config of ``kind``: its seed defaults with ``params`` overriding fields.

    ``params`` may be a full ``dataclasses.asdict`` of a config (as stored in checkpoints).
    Unknown parameter names or impossible values raise :class:`ConfigError`.
    """
    cls = get_kind(kind).config_cls
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"feature kind {kind!r} has no parameter(s) {', '.join(unknown)}; "
                          f"its parameters are {', '.join(sorted(known))}.")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for feature kind {kind!r}: {exc}.") from None


def _as_batch(waveform) -> tuple[torch.Tensor, bool]:
    x = waveform if isinstance(waveform, torch.Tensor) else torch.as_tensor(np.asarray(waveform))
    if not x.is_floating_point() or x.dtype != torch.float32:
        x = x.float()
    if x.dim() == 1:
        x = x.unsqueeze(0)
        single = True
    elif x.dim() == 2:
        single = False
    else:
        raise ValueError(f"expected a waveform (time,) or a batch (batch, time), got {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise ValueError("cannot extract features from an empty waveform")
    return x, single


def extract(kind: str, waveform, sample_rate: int, config: FeatureConfig | dict | None = None,
            **params) -> Features:
    """Features of ``kind`` for ``waveform`` ``(time,)`` or ``(batch, time)`` at ``sample_rate``.

    Pass either ``config`` (a config instance or its dict) or ``params`` (fields to override).
    """
    spec = get_kind(kind)
    if config is None:
        cfg = feature_config(kind, **params)
    else:
        if isinstance(config, dict):
            config = feature_config(kind, **config)
        if not isinstance(config, spec.config_cls):
            raise ConfigError(f"feature kind {kind!r} needs a {spec.config_cls.__name__}, "
                              f"not a {type(config).__name__}.")
        cfg = config.replace(**params) if params else config
    x, single = _as_batch(waveform)
    check_work_size(cfg, x.shape[-1], int(sample_rate), x.shape[0])  # before any allocation
    memo, digest = _MEMO.get(), None
    if memo is not None and x.device.type == "cpu":
        digest = _digest(x)
        key = ("features", digest, int(sample_rate), kind, repr(cfg))
        if key in memo:
            out = _copy(memo[key])
            return _unbatch(out) if single else out
    with torch.no_grad():
        share = valid_samples(x) / x.shape[-1] if cfg.center_time else None
        x = _conditioned(x, int(sample_rate), cfg, memo, digest)
        out = spec.compute(x, int(sample_rate), cfg)
        if share is not None:
            out = center_time(out, share)
    if digest is not None:
        _keep(memo, key, _copy(out))
    return _unbatch(out) if single else out


# -- features shared by the models of one prediction ------------------------------------------
#: Inside :func:`shared_features`, a dict of what :func:`extract` computed, keyed by a digest
#: of the input and the configuration; ``None`` outside.
_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ser_feature_memo", default=None)


@contextlib.contextmanager
def shared_features():
    """Within this block (one prediction for several models), :func:`extract` computes the
    features of an identical input and configuration once, and the band limit and level
    normalisation that every kind starts with once per input.

    The shipped models share much: GLAM and GLAM+ take the same MFCCs of the same 2 s
    windows; the three 3 s-segment models and the three whole-clip models start from the same
    5.5 kHz low-pass of the same samples. Inputs are recognised by content (a digest of the
    samples), so segments cut separately for each model still match. CPU only; results are
    copies, so a caller may change them."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


#: What one prediction's memo may hold (a 10-minute clip's segments are not all kept).
MEMO_BYTES = 64 * 2**20


def _keep(memo: dict, key: tuple, value) -> None:
    size = sum(v.numel() * v.element_size() for v in (value.values() if isinstance(value, dict) else [value]))
    used = memo.get("bytes", 0)
    if used + size <= MEMO_BYTES:
        memo[key], memo["bytes"] = value, used + size


def _digest(x: torch.Tensor) -> tuple:
    data = x.detach().contiguous().numpy().tobytes()
    return tuple(x.shape), str(x.dtype), hashlib.blake2b(data, digest_size=16).digest()


def _copy(out):
    return {k: v.clone() for k, v in out.items()} if isinstance(out, dict) else out.clone()


def _unbatch(out):
    if isinstance(out, dict):
        return {k: v.squeeze(0) for k, v in out.items()}
    return out.squeeze(0)


def _conditioned(x: torch.Tensor, sample_rate: int, cfg, memo: dict | None, digest) -> torch.Tensor:
    """The band limit and level normalisation every kind starts with (see FeatureConfig)."""
    key = ("conditioned", digest, sample_rate, cfg.lowpass_hz, cfg.gain_normalize)
    if digest is not None and key in memo:
        return memo[key]
    if cfg.lowpass_hz is not None:
        x = FF.lowpass(x, sample_rate, float(cfg.lowpass_hz))
    if cfg.gain_normalize:
        x = FF.zscore(x)
    if digest is not None:
        _keep(memo, key, x)
    return x


def describe_kinds() -> list[dict]:
    """One row per kind (name, seed, output, description, config class, defaults)."""
    return [{"name": k.name, "seed": k.seed, "output": k.output, "description": k.description,
             "config": k.config_cls.__name__, "defaults": dataclasses.asdict(k.config_cls())}
            for k in FEATURE_KINDS.values()]
