"""Feature extraction as pure torch functions (batched, CPU or GPU, no state).

Every function takes and returns tensors; leading dimensions are batch dimensions and are
carried through untouched. Shape conventions:

* waveforms ``(..., time)`` (samples at a stated sample rate);
* frames ``(..., n_frames, frame_length)``;
* spectral features ``(..., freq, time)``: ``freq`` is FFT bins, mel bands, MFCCs or chroma
  bins, ``time`` is frames.

The chain of seed 000 §3.1.1 is ``zscore -> preemphasis -> frame -> window ->
power_spectrum -> mel filterbank -> log -> deltas``, and §3.2.1 adds ``mfcc``. Seed 002 adds
``trim_zeros``, ``chroma``, ``amplitude_to_db`` and ``resize_bilinear``; seed 004 adds
``interpolate_time_nearest`` for its two-resolution mel pair.

Conventions where toolkits differ (the reference tests state the tolerances):

* Pre-emphasis: ``y[n] = x[n] - a·x[n-1]`` with ``x[-1] = prev`` (default 0, so
  ``y[0] = x[0]``, as torchaudio). librosa's default instead starts from the linear
  extrapolation ``zi = 2x[0] - x[1]``; passing ``zi=[-a·prev]`` to librosa reproduces ours.
* Framing with ``center=False`` puts frame ``t`` on samples ``[t·hop, t·hop + win)`` (the
  seed's and HTK's framing); the DFT of size ``n_fft >= win`` zero-pads the frame. With
  ``center=True`` the signal is padded by ``n_fft // 2`` on both sides (zeros by default, as
  librosa >= 0.10) and the window sits in the middle of each ``n_fft`` frame, exactly as
  ``librosa.stft``/``torch.stft``.
* Windows are symmetric by default (seed 000 eq. 1, ``N - 1`` in the denominator); librosa and
  torch use periodic windows (``periodic=True``).
* Deltas: :func:`deltas` is the regression form (HTK, torchaudio ``compute_deltas``, librosa
  ``delta(mode="nearest")``) with edge frames replicated; delta-delta is the delta of the
  delta (librosa ``delta(order=2)`` is a second-order Savitzky-Golay filter instead).
  :func:`first_difference` is seed 000 eqs. 7-8.
"""

from __future__ import annotations

import functools
import math
import weakref
from typing import Optional, Union

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
import torchaudio.functional.functional as _TA

WINDOWS = ("hamming", "hann", "blackman", "bartlett", "rectangular")
LOG_KINDS = ("ln", "db", "none")

Ref = Union[float, str]


# --------------------------------------------------------------------------------------
# waveform
# --------------------------------------------------------------------------------------
def zscore(x: torch.Tensor, dim: int = -1, eps: float = 1e-8,
           mean: Optional[torch.Tensor | float] = None,
           std: Optional[torch.Tensor | float] = None) -> torch.Tensor:
    """Zero mean, unit variance along ``dim`` (seed 000 §3.1.1).

    ``mean``/``std`` given (e.g. training-set statistics) are used as they are; otherwise
    each signal is normalised by its own statistics (population std). ``eps`` keeps a silent
    (constant) signal finite.
    """
    if mean is None:
        mean = x.mean(dim=dim, keepdim=True)
    centred = x - mean
    if std is None:  # two-pass population std (torch.std is several times slower on CPU)
        std = centred.square().mean(dim=dim, keepdim=True).sqrt()
    return centred / (std + eps)


def preemphasis(x: torch.Tensor, coeff: float = 0.97,
                prev: Optional[torch.Tensor | float] = None) -> torch.Tensor:
    """First-order high-pass ``y[n] = x[n] - coeff·x[n-1]`` along the last axis.

    ``prev`` is the sample before ``x[0]`` (shape ``(...)`` or a float; default 0). Passing the
    last sample of the previous block makes blockwise filtering equal to filtering the whole
    signal at once (streaming): ``preemphasis(b2, a, prev=b1[..., -1])``.
    """
    if coeff == 0:
        return x.clone()
    if prev is None:
        first = x[..., :1]
    else:
        prev_t = torch.as_tensor(prev, dtype=x.dtype, device=x.device)
        first = x[..., :1] - coeff * prev_t.reshape(prev_t.shape + (1,)).expand_as(x[..., :1])
    return torch.cat([first, x[..., 1:] - coeff * x[..., :-1]], dim=-1)


def lowpass(x: torch.Tensor, sample_rate: int, cutoff_hz: float,
            transition_hz: Optional[float] = None) -> torch.Tensor:
    """Zero-phase low-pass of ``(..., time)`` in the frequency domain.

    Bins up to ``cutoff_hz - transition_hz`` pass, bins above ``cutoff_hz`` are removed and a
    raised-cosine taper joins them (``transition_hz`` default: 5 % of the cutoff). A cutoff at
    or above Nyquist returns ``x`` unchanged.
    """
    nyquist = sample_rate / 2
    if cutoff_hz >= nyquist:
        return x
    width = 0.05 * cutoff_hz if transition_hz is None else float(transition_hz)
    n = x.shape[-1]
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(n, 1.0 / sample_rate, device=x.device, dtype=x.dtype)
    ramp = ((cutoff_hz - freqs) / max(width, 1e-9)).clamp(0, 1)
    gain = 0.5 - 0.5 * torch.cos(math.pi * ramp)
    return torch.fft.irfft(spec * gain, n=n, dim=-1)


def trim_zeros(x: torch.Tensor) -> torch.Tensor:
    """Drop exact zeros at both ends of a 1-D signal (``numpy.trim_zeros``, seed 002)."""
    if x.dim() != 1:
        raise ValueError("trim_zeros works on one signal (time,)")
    nz = torch.nonzero(x, as_tuple=False)
    if nz.numel() == 0:
        return x[:0]
    return x[int(nz[0]): int(nz[-1]) + 1]


# --------------------------------------------------------------------------------------
# framing, windows, spectra
# --------------------------------------------------------------------------------------
def num_frames(n_samples: int, win_length: int, hop_length: int, center: bool = False,
               n_fft: Optional[int] = None) -> int:
    """How many frames :func:`frame` makes from ``n_samples`` samples (at least 1)."""
    if center:
        n_fft = n_fft or win_length
        return 1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop_length
    return 1 + max(n_samples - win_length, 0) // hop_length


def frame(x: torch.Tensor, win_length: int, hop_length: int, center: bool = False,
          n_fft: Optional[int] = None, pad_mode: str = "constant") -> torch.Tensor:
    """Cut ``(..., time)`` into overlapping frames ``(..., n_frames, win_length)``.

    ``center=False``: frame ``t`` is ``x[t·hop : t·hop + win]``; a signal shorter than one
    frame is zero-padded to one frame. ``center=True``: librosa/torch.stft framing, i.e. the
    signal is padded by ``n_fft // 2`` (``pad_mode``: ``"constant"`` zeros or ``"reflect"``)
    and frame ``t`` is the middle ``win_length`` samples of the ``n_fft`` samples starting
    at ``t·hop`` in the padded signal (its centre is at sample ``t·hop`` of the original).
    """
    if win_length <= 0 or hop_length <= 0:
        raise ValueError("win_length and hop_length must be positive")
    if center:
        n_fft = n_fft or win_length
        if n_fft < win_length:
            raise ValueError(f"n_fft ({n_fft}) must be >= win_length ({win_length})")
        half = n_fft // 2
        if pad_mode == "reflect" and x.shape[-1] <= half:
            pad_mode = "constant"
        shape = x.shape
        flat = x.reshape(-1, 1, shape[-1])
        flat = F.pad(flat, (half, half), mode=pad_mode)
        padded = flat.reshape(shape[:-1] + (flat.shape[-1],))
        off = (n_fft - win_length) // 2
        frames = padded.unfold(-1, n_fft, hop_length)
        return frames[..., off: off + win_length]
    if x.shape[-1] < win_length:
        x = F.pad(x, (0, win_length - x.shape[-1]))
    return x.unfold(-1, win_length, hop_length)


@functools.lru_cache(maxsize=64)
def _window_cached(name: str, length: int, periodic: bool, device: str,
                   dtype: torch.dtype) -> torch.Tensor:
    kw = dict(periodic=periodic, dtype=torch.float64)
    if name == "hamming":
        w = torch.hamming_window(length, **kw)
    elif name == "hann":
        w = torch.hann_window(length, **kw)
    elif name == "blackman":
        w = torch.blackman_window(length, **kw)
    elif name == "bartlett":
        w = torch.bartlett_window(length, **kw)
    elif name in ("rectangular", "boxcar", "rect"):
        w = torch.ones(length, dtype=torch.float64)
    else:
        raise ValueError(f"unknown window {name!r}; choose one of {', '.join(WINDOWS)}")
    return w.to(device=device, dtype=dtype)


def get_window(name: str, length: int, periodic: bool = False,
               device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Window ``(length,)``: hamming (default of seed 000, eq. 1), hann, blackman, bartlett,
    rectangular. ``periodic=False`` is the symmetric form (``N - 1`` in the cosine);
    ``periodic=True`` is what librosa/scipy use for spectral analysis (``fftbins=True``)."""
    return _window_cached(name, int(length), bool(periodic), str(torch.device(device)), dtype)


def _power(spec: torch.Tensor, power: float) -> torch.Tensor:
    if power == 2.0:  # re² + im² on the real view: no sqrt, no strided complex views
        r = torch.view_as_real(spec)
        re, im = r[..., 0], r[..., 1]
        return re * re + im * im
    if power == 1.0:
        return spec.abs()
    return spec.abs().pow(power)


def power_spectrum(frames: torch.Tensor, n_fft: Optional[int] = None,
                   power: float = 2.0) -> torch.Tensor:
    """``|DFT|^power`` of (already windowed) frames ``(..., n_frames, win)``.

    Returns ``(..., n_fft // 2 + 1, n_frames)``; the frame is zero-padded to ``n_fft``.
    """
    n_fft = n_fft or frames.shape[-1]
    return _power(torch.fft.rfft(frames, n=n_fft, dim=-1), power).transpose(-1, -2)


#: CPU work is done in blocks of about this many frame samples (frames x n_fft), so that the
#: frames, their FFT and the power spectrum of one block stay in the CPU cache (measured: 3x
#: faster than one pass over a batch of 60 s clips). GPUs take everything in one block.
CPU_BLOCK_SAMPLES = 1 << 18


def spectrogram(x: torch.Tensor, n_fft: int, hop_length: int, win_length: Optional[int] = None,
                window: str | torch.Tensor = "hann", periodic: bool = True, center: bool = True,
                pad_mode: str = "constant", power: float = 2.0,
                filterbank: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``|STFT|^power`` of ``(..., time)`` -> ``(..., n_fft // 2 + 1, n_frames)``.

    With ``filterbank`` ``(bands, n_fft // 2 + 1)`` the result is ``filterbank @ |STFT|^power``
    ``(..., bands, n_frames)`` (mel or chroma energies) without storing the full spectrum.

    Same frames as :func:`frame` (so the same values as ``power_spectrum(frame(...) * w)``),
    computed the fast way: ``n_fft``-long strided frames times the window zero-padded to
    ``n_fft`` (at the frame start without ``center``, in the middle with it, as
    ``librosa.stft``), so the FFT needs no padding copy; on the CPU in cache-sized blocks.
    Equals ``|librosa.stft|^power`` for ``center=True``.
    """
    win_length = win_length or n_fft
    if n_fft < win_length:
        raise ValueError(f"n_fft ({n_fft}) must be >= win_length ({win_length})")
    w = window if isinstance(window, torch.Tensor) else get_window(window, win_length, periodic,
                                                                   x.device, x.dtype)
    lead = x.shape[:-1]
    flat = x.reshape(-1, 1, x.shape[-1])
    if center:
        half = n_fft // 2
        mode = "constant" if (pad_mode == "reflect" and x.shape[-1] <= half) else pad_mode
        flat = F.pad(flat, (half, half), mode=mode)
        off = (n_fft - win_length) // 2
    else:
        short = max(win_length - x.shape[-1], 0)  # a too-short signal still makes one frame
        flat = F.pad(flat, (0, n_fft - win_length + short))
        off = 0
    w_full = F.pad(w, (off, n_fft - win_length - off)) if n_fft > win_length else w
    frames = flat[:, 0].unfold(-1, n_fft, hop_length)          # (B, T, n_fft) strided view
    n_batch, n_frames = frames.shape[0], frames.shape[1]

    if filterbank is not None and power == 2.0:
        # fb @ (re² + im²) as (bands, 2·bins) x (2·bins, frames) products over the
        # interleaved (re, im) squares: no strided adds; one GEMM per group of bands, each
        # over only the bins its filters cover (see _banded_plan). This orientation (the
        # few bands as the GEMM's rows) ran 4x faster than (frames, 2·bins) x (2·bins, bands)
        plan = _banded_plan(filterbank)

        def block(fr: torch.Tensor) -> torch.Tensor:          # (b, t, n_fft) -> (b, rows, t)
            sq = torch.view_as_real(torch.fft.rfft(fr * w_full, dim=-1)).square_()  # its own
            sq = sq.reshape(-1, 2 * filterbank.shape[1]).T        # (2·bins, b·t) view
            if torch.is_grad_enabled() and (sq.requires_grad or filterbank.requires_grad):
                bands = torch.cat([torch.mm(w, sq[lo:hi]) for (_, _, lo, hi), w in plan])
            else:  # straight into the output's rows (out= has no autograd)
                bands = sq.new_empty((filterbank.shape[0], sq.shape[1]))
                for (a, b, lo, hi), w in plan:
                    torch.mm(w, sq[lo:hi], out=bands[a:b])
            return bands.reshape(-1, fr.shape[0], fr.shape[1]).transpose(0, 1)
    else:
        def block(fr: torch.Tensor) -> torch.Tensor:
            spec = _power(torch.fft.rfft(fr * w_full, dim=-1), power).transpose(-1, -2)
            return spec if filterbank is None else torch.matmul(filterbank, spec)

    if x.device.type != "cpu" or n_batch * n_frames * n_fft <= CPU_BLOCK_SAMPLES * max(1, torch.get_num_threads()):
        out = block(frames).contiguous()
    else:
        rows = n_fft // 2 + 1 if filterbank is None else filterbank.shape[0]
        out = x.new_empty((n_batch, rows, n_frames))
        # each of torch's threads gets about one cache-sized share of a block
        step = max(1, CPU_BLOCK_SAMPLES * max(1, torch.get_num_threads()) // n_fft)
        if n_frames >= step:
            for b in range(n_batch):
                for i in range(0, n_frames, step):
                    out[b, :, i:i + step] = block(frames[b:b + 1, i:i + step])[0]
        else:
            group = max(1, step // n_frames)                    # whole clips per block
            for b in range(0, n_batch, group):
                out[b:b + group] = block(frames[b:b + group])
    return out.reshape(lead + out.shape[-2:])


_BANDED: dict[int, tuple] = {}
#: the cost of one more GEMM call, in multiply-adds per frame (about 5 µs at one core's
#: ~60 GFLOP/s for a 3 s clip's 300 frames)
_GEMM_CALL_COST = 600


def _band_groups(filterbank: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """Consecutive groups of bands ``(band_lo, band_hi, bin_lo, bin_hi)`` covering all bands,
    each with the range of bins its filters touch, chosen to minimise multiply-adds per frame
    plus a cost per group. A mel filterbank touches ~5 % of its (bands, bins) entries, low
    bands few bins and high bands many: 40 bands in four groups need a quarter of the dense
    product's work."""
    nz = (filterbank != 0).cpu()
    bands, bins = nz.shape
    first = [int(r.nonzero()[0]) if r.any() else 0 for r in nz]
    last = [int(r.nonzero()[-1]) + 1 if r.any() else 1 for r in nz]
    best, best_cost = [(0, bands, 0, bins)], bands * bins
    for n_groups in range(2, min(bands, 16) + 1):
        edges = [round(i * bands / n_groups) for i in range(n_groups + 1)]
        groups = [(a, b, min(first[a:b]), max(last[a:b])) for a, b in zip(edges, edges[1:])]
        cost = sum((b - a) * (hi - lo) for a, b, lo, hi in groups) + n_groups * _GEMM_CALL_COST
        if cost < best_cost:
            best, best_cost = groups, cost
    return best


def _banded_plan(filterbank: torch.Tensor) -> list[tuple[tuple[int, int, int, int], torch.Tensor]]:
    """The left-hand sides of :func:`spectrogram`'s GEMMs: per group of bands ``a:b`` (see
    :func:`_band_groups`) its rows ``lo:hi`` of the interleaved power spectrum and its
    filters with each bin twice ``(b - a, hi - lo)``. Only entries that are zero are left
    out, so the result equals the dense product. Kept per filterbank tensor (the cached mel
    filterbanks are the same objects call after call): building it took ~40 µs of a ~1 ms
    log-mel of a 3 s clip. A filterbank is not changed in place (inference tensors, which the
    cached ones may be, have no version counter to check that). A filterbank that is being
    trained gets a fresh plan each call: a kept one would carry a spent autograd graph."""
    if filterbank.requires_grad and torch.is_grad_enabled():
        return _plan_of(filterbank)
    hit = _BANDED.get(id(filterbank))
    if hit is None or hit[0]() is not filterbank:
        if len(_BANDED) > 64:  # filterbanks made by callers, not the cached ones
            _BANDED.clear()
        hit = (weakref.ref(filterbank), _plan_of(filterbank))
        _BANDED[id(filterbank)] = hit
    return hit[1]


def _plan_of(filterbank: torch.Tensor) -> list[tuple[tuple[int, int, int, int], torch.Tensor]]:
    twice = filterbank.repeat_interleave(2, dim=1)
    return [((a, b, 2 * lo, 2 * hi), twice[a:b, 2 * lo:2 * hi].contiguous())
            for a, b, lo, hi in _band_groups(filterbank)]


def fft_frequencies(sample_rate: int, n_fft: int) -> torch.Tensor:
    """Centre frequency (Hz) of each rfft bin ``(n_fft // 2 + 1,)``."""
    return torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)


# --------------------------------------------------------------------------------------
# mel
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _mel_cached(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float,
                mel_scale: str, norm: Optional[str], device: str,
                dtype: torch.dtype) -> torch.Tensor:
    # torchaudio's melscale_fbanks construction (its helpers), in float64 and with the FFT
    # bins placed up to sample_rate / 2 exactly (melscale_fbanks uses sample_rate // 2, half a
    # hertz off for odd rates such as the 11 025 Hz corpora): equal to librosa.filters.mel.
    all_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    m_pts = torch.linspace(_TA._hz_to_mel(f_min, mel_scale=mel_scale),
                           _TA._hz_to_mel(f_max, mel_scale=mel_scale), n_mels + 2,
                           dtype=torch.float64)
    f_pts = _TA._mel_to_hz(m_pts, mel_scale=mel_scale)
    fb = _TA._create_triangular_filterbank(all_freqs, f_pts)
    if norm == "slaney":
        fb = fb * (2.0 / (f_pts[2: n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb.T.contiguous().to(device=device, dtype=dtype)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 40, f_min: float = 0.0,
                   f_max: Optional[float] = None, mel_scale: str = "htk",
                   norm: Optional[str] = "slaney", device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` (torchaudio ``melscale_fbanks``).

    ``mel_scale="htk"`` is seed 000 eq. 2 with its missing ``log10`` restored,
    ``B(f) = 2595·log10(1 + f/700)``; ``"slaney"`` is librosa's default (linear below 1 kHz).
    ``norm="slaney"`` divides each triangle by its width in Hz (constant area, as seed 000
    eq. 3, which normalises by the width in FFT bins: that differs by the constant factor
    ``sample_rate / n_fft``); ``None`` gives peak-1 triangles (HTK). Equal to
    ``librosa.filters.mel(htk=mel_scale == "htk", norm=norm)`` to float precision.
    """
    f_max = float(sample_rate) / 2 if f_max is None else float(f_max)
    if mel_scale not in ("htk", "slaney"):
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', not {mel_scale!r}")
    if norm not in (None, "slaney"):
        raise ValueError(f"mel norm must be None or 'slaney', not {norm!r}")
    return _mel_cached(int(sample_rate), int(n_fft), int(n_mels), float(f_min), f_max,
                       mel_scale, norm, str(torch.device(device)), dtype)


def mel_band_edges(sample_rate: int, n_mels: int, f_min: float = 0.0,
                   f_max: Optional[float] = None, mel_scale: str = "htk") -> torch.Tensor:
    """The ``n_mels + 2`` boundary frequencies f[m] (Hz) of seed 000 eq. 4, equally spaced in
    mel; filter ``m`` rises from ``f[m]`` to ``f[m+1]`` and falls to ``f[m+2]``."""
    f_max = float(sample_rate) / 2 if f_max is None else float(f_max)
    lo = _TA._hz_to_mel(float(f_min), mel_scale=mel_scale)
    hi = _TA._hz_to_mel(f_max, mel_scale=mel_scale)
    mels = torch.linspace(lo, hi, n_mels + 2, dtype=torch.float64)
    return _TA._mel_to_hz(mels, mel_scale=mel_scale).float()


def apply_filterbank(spec: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """``(bands, freq) @ (..., freq, time) -> (..., bands, time)``."""
    return torch.matmul(fb, spec)


# --------------------------------------------------------------------------------------
# log and dB
# --------------------------------------------------------------------------------------
def _ref_value(x: torch.Tensor, ref: Ref) -> torch.Tensor | float:
    if isinstance(ref, str):
        if ref != "max":
            raise ValueError(f"ref must be a number or 'max', not {ref!r}")
        return x.amax(dim=(-2, -1), keepdim=True) if x.dim() >= 2 else x.amax()
    return float(ref)


def power_to_db(x: torch.Tensor, ref: Ref = 1.0, amin: float = 1e-10,
                top_db: Optional[float] = 80.0) -> torch.Tensor:
    """``10·log10(max(x, amin) / ref)``, floored at ``max - top_db`` per (freq, time) map.

    As ``librosa.power_to_db``; ``ref="max"`` is librosa's ``ref=np.max`` (per map).
    """
    refv = _ref_value(x, ref)
    db = 10.0 * torch.log10(x.clamp_min(amin))
    if isinstance(refv, torch.Tensor):
        db = db - 10.0 * torch.log10(refv.clamp_min(amin))
    else:
        db = db - 10.0 * math.log10(max(amin, refv))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        peak = db.amax(dim=(-2, -1), keepdim=True) if db.dim() >= 2 else db.amax()
        db = torch.maximum(db, peak - top_db)
    return db


def amplitude_to_db(x: torch.Tensor, ref: Ref = 1.0, amin: float = 1e-5,
                    top_db: Optional[float] = 80.0) -> torch.Tensor:
    """``20·log10(max(|x|, amin) / ref)`` with the ``top_db`` floor (``librosa.amplitude_to_db``,
    seed 002's "convert amplitude to dB")."""
    mag = x.abs()
    refv = ref if isinstance(ref, str) else abs(float(ref))
    return power_to_db(mag.square(), ref=refv if isinstance(refv, str) else refv ** 2,
                       amin=amin ** 2, top_db=top_db)


def log_compress(x: torch.Tensor, kind: str = "ln", amin: float = 1e-10,
                 top_db: Optional[float] = None) -> torch.Tensor:
    """Log of power features: ``"ln"`` natural log of ``max(x, amin)`` (seed 000 eq. 6),
    ``"db"`` :func:`power_to_db` with ``ref=1``, ``"none"`` unchanged. ``top_db`` floors the
    result at ``max - top_db`` in dB (for ``"ln"`` the floor is converted to nepers·2)."""
    if kind == "none":
        return x
    if kind == "db":
        return power_to_db(x, ref=1.0, amin=amin, top_db=top_db)
    if kind == "ln":
        out = torch.log(x.clamp_min(amin))
        if top_db is not None:
            peak = out.amax(dim=(-2, -1), keepdim=True)
            out = torch.maximum(out, peak - top_db * math.log(10.0) / 10.0)
        return out
    raise ValueError(f"log must be one of {LOG_KINDS}, not {kind!r}")


# --------------------------------------------------------------------------------------
# deltas
# --------------------------------------------------------------------------------------
def deltas(x: torch.Tensor, width: int = 5) -> torch.Tensor:
    """Regression deltas along the last (time) axis, edges replicated.

    ``d_t = sum_{n=1..N} n·(x_{t+n} - x_{t-n}) / (2·sum n²)`` with ``N = (width - 1) / 2``:
    HTK's formula, torchaudio ``compute_deltas(win_length=width)`` and
    ``librosa.feature.delta(width=width, mode="nearest")``.
    """
    if width < 3 or width % 2 != 1:
        raise ValueError("delta width must be an odd integer >= 3")
    n = (width - 1) // 2
    t = x.shape[-1]
    padded = F.pad(x.reshape(-1, 1, t), (n, n), mode="replicate").reshape(x.shape[:-1] + (t + 2 * n,))
    out = padded[..., n + 1: n + 1 + t] - padded[..., n - 1: n - 1 + t]
    for k in range(2, n + 1):
        out.add_(padded[..., n + k: n + k + t] - padded[..., n - k: n - k + t], alpha=k)
    return out.div_(2.0 * sum(k * k for k in range(1, n + 1)))


def first_difference(x: torch.Tensor) -> torch.Tensor:
    """Seed 000 eqs. 7-8: ``Δ_t = S_t - S_{t-1}`` along time, same length as ``x``.

    The first frame has no predecessor; its difference is 0 (``S_{-1} = S_0``), so the three
    ACRNN channels keep one length. Apply twice for eq. 8 (delta-delta).
    """
    return torch.cat([torch.zeros_like(x[..., :1]), x[..., 1:] - x[..., :-1]], dim=-1)


# --------------------------------------------------------------------------------------
# cepstra (chroma: ser_core.features.chroma; resizing: ser_core.features.resize)
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _dct_cached(n_mfcc: int, n_mels: int, norm: Optional[str], device: str,
                dtype: torch.dtype) -> torch.Tensor:
    return AF.create_dct(n_mfcc, n_mels, norm).T.contiguous().to(device=device, dtype=dtype)


def dct_matrix(n_mfcc: int, n_mels: int, norm: Optional[str] = "ortho",
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """DCT-II matrix ``(n_mfcc, n_mels)`` (torchaudio ``create_dct``, transposed)."""
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels})")
    return _dct_cached(int(n_mfcc), int(n_mels), norm, str(torch.device(device)), dtype)


def lifter_weights(n_mfcc: int, lifter: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """HTK cepstral liftering ``1 + L/2·sin(π·n/L)`` for ``n = 0..n_mfcc-1`` (c0 unchanged).

    librosa's ``lifter`` uses ``n + 1`` instead of ``n`` (shifted by one coefficient).
    """
    n = torch.arange(n_mfcc, dtype=torch.float64)
    return (1 + lifter / 2 * torch.sin(math.pi * n / lifter)).to(device=device, dtype=dtype)


def mfcc(log_mel: torch.Tensor, n_mfcc: int = 40, norm: Optional[str] = "ortho",
         lifter: int = 0) -> torch.Tensor:
    """MFCC = DCT-II of the log-mel over the band axis: ``(..., n_mels, time) -> (..., n_mfcc,
    time)`` (seed 000 §3.2.1; ``librosa.feature.mfcc(S=log_mel, norm="ortho")``)."""
    out = torch.matmul(dct_matrix(n_mfcc, log_mel.shape[-2], norm, log_mel.device,
                                  log_mel.dtype), log_mel)
    if lifter > 0:
        out = out * lifter_weights(n_mfcc, lifter, out.device, out.dtype)[:, None]
    return out


def next_pow2(n: int) -> int:
    """Smallest power of two >= n."""
    return 1 << max(0, int(n) - 1).bit_length()
