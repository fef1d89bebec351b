"""STFT chromagram (seed 002): librosa's chroma filterbank as a cached tensor, and the
per-frame normalisation. Pure torch after the (constant) filterbank."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=16)
def _chroma_cached(sample_rate: int, n_fft: int, n_chroma: int, tuning: float, device: str,
                   dtype: torch.dtype) -> torch.Tensor:
    # librosa's chroma filterbank (a constant matrix, computed once per setting).
    import librosa

    fb = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)
    return torch.from_numpy(fb).to(device=device, dtype=dtype)


def chroma_filterbank(sample_rate: int, n_fft: int, n_chroma: int = 12, tuning: float = 0.0,
                      device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Chroma filters ``(n_chroma, n_fft // 2 + 1)`` (``librosa.filters.chroma``)."""
    return _chroma_cached(int(sample_rate), int(n_fft), int(n_chroma), float(tuning),
                          str(torch.device(device)), dtype)


def chroma(power_spec: torch.Tensor, fb: torch.Tensor, norm: str = "max") -> torch.Tensor:
    """STFT chromagram ``(..., n_chroma, time)`` from a power spectrogram (seed 002):
    ``fb @ power_spec`` normalised per frame by :func:`normalize_frames` (``"max"`` is
    librosa ``chroma_stft``'s ``norm=np.inf``)."""
    return normalize_frames(torch.matmul(fb, power_spec), norm)


def normalize_frames(raw: torch.Tensor, norm: str = "max") -> torch.Tensor:
    """Scale each frame (column) of ``(..., bins, time)``: ``"max"`` so its largest |value| is
    1 (frames whose maximum is below the dtype's tiny value are left unscaled, as
    ``librosa.util.normalize``), ``"l2"`` to unit Euclidean norm, ``"none"`` unchanged."""
    if norm == "none":
        return raw
    if norm == "max":
        length = raw.abs().amax(dim=-2, keepdim=True)
    elif norm == "l2":
        length = raw.square().sum(dim=-2, keepdim=True).sqrt()
    else:
        raise ValueError(f"chroma norm must be 'max', 'l2' or 'none', not {norm!r}")
    tiny = torch.finfo(raw.dtype).tiny
    return raw / torch.where(length < tiny, torch.ones_like(length), length)
