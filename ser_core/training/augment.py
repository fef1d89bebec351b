"""On-the-fly waveform augmentation of the seeds, applied to training batches only.

* seed 003: additive white Gaussian noise (AWGN) at an SNR drawn uniformly from a range. The
  seed's text gives no numbers; its public notebook used 15-30 dB, which is the default. The
  seed adds two noisy copies of every clip (1:2 clean:noisy); on the fly that is
  ``p = 2/3`` per example per epoch (preset ``"awgn"``).
* seed 002 ("Speech Manipulation Techniques"): pitch shift by -2/-1/+1/+2 semitones, time
  stretch with a rate from 0.75 … 1.25 and Gaussian noise at an SNR from 7 … 20 dB, each
  value drawn from the seed's grids, *pairs* of these applied to "a small portion" of the
  data (the portion is not given; preset ``"seed002"`` uses ``p = 0.25``).

And, for rooms and microphones none of the corpora has (preset ``"room"``; issue 17):

* ``reverb``: convolution with a synthetic room impulse response, exponentially decaying
  Gaussian noise with an RT60 drawn from ``rt60_range_s`` (60 dB decay time; the direct path
  is the first tap), mixed back to the dry level;
* ``gain``: a random level change in ``gain_range_db``;
* ``band``: a telephone-to-studio band limit, a high-pass at ``highpass_hz`` and a low-pass
  at a cutoff drawn from ``lowpass_grid_hz`` (biquads, ``torchaudio.functional``);
* ``speed``: speed perturbation (tempo and pitch together, as Kaldi's 0.9/1.0/1.1), by
  resampling with a factor from ``speed_factors``.

Everything is a batched torch op on the batch's own device (``torchaudio.functional``:
``pitch_shift``, ``phase_vocoder``); examples sharing a drawn pitch/stretch value are
processed together, so a batch costs at most a few calls per op. Randomness comes from a
``torch.Generator`` the trainer seeds, so an epoch's augmentation is reproducible.

Waveforms are ``(batch, time)`` float tensors at ``sample_rate``; the output has the same
shape (time-stretched examples are cut or zero-padded back to the input length).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import torch
import torchaudio.functional as AF

from ser_core.errors import ConfigError
from ser_core.options import key_values

OPS = ("awgn", "noise", "pitch", "stretch", "reverb", "gain", "band", "speed")
SEED002_SEMITONES = (-2, -1, 1, 2)
SEED002_STRETCH = (0.75, 0.80, 0.85, 0.90, 1.05, 1.10, 1.20, 1.25)
SEED002_SNR_DB = (7, 8, 11, 12, 14, 15, 17, 18, 20)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations, how often, and their parameter ranges.

    p: probability that a training example is augmented in a given epoch (0 = off).
    ops: subset of ``OPS``: ``awgn`` (SNR uniform in ``snr_range_db``; seed 003), ``noise``
        (SNR from ``snr_grid_db``; seed 002), ``pitch`` (semitones from ``semitones``),
        ``stretch`` (rate from ``stretch_rates``).
    ops_per_example: how many distinct ops an augmented example gets (seed 002: 2 = pairs).
    """

    p: float = 0.0
    ops: tuple[str, ...] = ()
    ops_per_example: int = 1
    snr_range_db: tuple[float, float] = (15.0, 30.0)
    snr_grid_db: tuple[float, ...] = SEED002_SNR_DB
    semitones: tuple[int, ...] = SEED002_SEMITONES
    stretch_rates: tuple[float, ...] = SEED002_STRETCH
    rt60_range_s: tuple[float, float] = (0.2, 0.8)
    gain_range_db: tuple[float, float] = (-12.0, 6.0)
    highpass_hz: float = 100.0
    lowpass_grid_hz: tuple[float, ...] = (3400.0, 4000.0, 5500.0)
    speed_factors: tuple[float, ...] = (0.9, 1.1)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"augmentation probability must be within 0..1, not {self.p}.")
        bad = set(self.ops) - set(OPS)
        if bad:
            raise ConfigError(f"unknown augmentation(s) {sorted(bad)}; known: {', '.join(OPS)}.")
        if self.ops and not 1 <= self.ops_per_example <= len(self.ops):
            raise ConfigError("ops_per_example must be between 1 and the number of ops.")
        for name in ("snr_range_db", "rt60_range_s", "gain_range_db"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"augmentation range {name} = {lo}-{hi} is empty.")
        if self.rt60_range_s[0] <= 0:
            raise ConfigError("reverberation times (rt60) must be positive.")

    @property
    def enabled(self) -> bool:
        return self.p > 0 and bool(self.ops)


PRESETS = {
    "none": AugmentConfig(),
    "awgn": AugmentConfig(p=2 / 3, ops=("awgn",)),
    "seed002": AugmentConfig(p=0.25, ops=("pitch", "stretch", "noise"), ops_per_example=2),
    "room": AugmentConfig(p=0.5, ops=("awgn", "reverb", "gain", "band"), ops_per_example=2,
                          snr_range_db=(5.0, 30.0)),
}


def parse_augment(spec: str | None) -> AugmentConfig:
    """``"none"``, ``"awgn"``, ``"seed002"``, optionally followed by ``,key=value`` overrides:
    ``p=0.5``, ``snr=10-20`` (AWGN range), ``ops=pitch+noise``, ``k=2`` (ops per example),
    ``rt60=0.2-0.8`` (s), ``gain=-12-6`` (dB; a leading minus is a negative bound).

    Example: ``"awgn,p=0.5,snr=10-25"``.
    """
    if spec is None or spec == "":
        return PRESETS["none"]
    head, *rest = [s.strip() for s in spec.split(",")]
    if head not in PRESETS:
        raise ConfigError(f"unknown augmentation preset {head!r}; choose from "
                          f"{', '.join(PRESETS)}.")
    cfg = PRESETS[head]
    changes: dict = {}
    for key, value in key_values(rest, "augmentation option"):
        item = f"{key}={value}"
        try:
            if key == "p":
                changes["p"] = float(value)
            elif key == "snr":
                lo, hi = value.split("-")
                changes["snr_range_db"] = (float(lo), float(hi))
            elif key == "ops":
                changes["ops"] = tuple(v for v in value.split("+") if v)
            elif key == "k":
                changes["ops_per_example"] = int(value)
            elif key in ("rt60", "gain"):
                changes["rt60_range_s" if key == "rt60" else "gain_range_db"] = _range(value)
            else:
                raise ConfigError(f"unknown augmentation option {key!r} (p, snr, ops, k, rt60, gain).")
        except ValueError:
            raise ConfigError(f"augmentation option {item!r} has a bad value.") from None
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _range(value: str) -> tuple[float, float]:
    """``"lo-hi"`` where either bound may be negative (``"-12-6"``, ``"-12--3"``)."""
    import re

    m = re.fullmatch(r"\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*", value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)), float(m.group(2))


# -- the ops ----------------------------------------------------------------------------

def synthetic_rir(rt60_s: float, sample_rate: int, generator: torch.Generator,
                  length_s: float | None = None) -> torch.Tensor:
    """A room impulse response ``(taps,)``: a unit direct path, then Gaussian noise whose
    envelope falls 60 dB in ``rt60_s`` (``exp(-6.9 t / rt60)``); unit energy overall."""
    n = int(sample_rate * (length_s or min(1.5 * rt60_s, 1.2)))
    t = torch.arange(n, dtype=torch.float32) / sample_rate
    tail = torch.randn(n, generator=generator) * torch.exp(-6.907755 * t / rt60_s)
    tail[0] = 0.0
    h = tail * 0.3
    h[0] = 1.0
    return h / h.norm()


def reverberate(x: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve each row of ``(batch, time)`` with ``rir`` (same length out), at the dry RMS."""
    wet = AF.fftconvolve(x, rir.to(x)[None, :])[..., :x.shape[-1]]
    scale = x.pow(2).mean(-1, keepdim=True).sqrt() / wet.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-9)
    return wet * scale


def band_limit(x: torch.Tensor, sample_rate: int, highpass_hz: float, lowpass_hz: float) -> torch.Tensor:
    """High-pass then low-pass ``(batch, time)`` with biquads (a microphone / phone band)."""
    y = AF.highpass_biquad(x, sample_rate, highpass_hz)
    if lowpass_hz < sample_rate / 2:
        y = AF.lowpass_biquad(y, sample_rate, lowpass_hz)
    return y


def speed_perturb(x: torch.Tensor, sample_rate: int, factor: float) -> torch.Tensor:
    """Play ``(batch, time)`` ``factor`` times faster (pitch moves too), same length out."""
    ratio = Fraction(factor).limit_denominator(20)
    y = AF.resample(x, orig_freq=ratio.numerator, new_freq=ratio.denominator)
    length = x.shape[-1]
    return y[..., :length] if y.shape[-1] >= length else torch.nn.functional.pad(y, (0, length - y.shape[-1]))


def add_noise_snr(x: torch.Tensor, snr_db: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Add zero-mean white Gaussian noise to each row of ``x`` at ``snr_db`` (one per row).

    Signal power is the row's mean square; noise std = sqrt(P / 10^(snr/10)).
    """
    power = x.pow(2).mean(dim=-1, keepdim=True).clamp_min(1e-12)
    std = torch.sqrt(power / torch.pow(10.0, snr_db.to(x).unsqueeze(-1) / 10.0))
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise * std


def pitch_shift(x: torch.Tensor, sample_rate: int, n_steps: int) -> torch.Tensor:
    """Shift ``(batch, time)`` by ``n_steps`` semitones, same length.

    As ``torchaudio.functional.pitch_shift`` (phase-vocoder stretch by ``2^(-n/12)``, then
    resample back), except that the resampling ratio is rounded to a fraction with a small
    denominator (at most 24; for the seed's ±1, ±2 semitones the error is below 0.05
    semitone): torchaudio's exact ratio needs a huge sinc kernel and is ~50x slower.
    """
    if int(n_steps) == 0:
        return x
    rate = Fraction(2.0 ** (-float(n_steps) / 12.0)).limit_denominator(24)
    length = x.shape[-1]
    y = time_stretch(x, float(rate), keep_length=False)
    y = AF.resample(y, orig_freq=rate.denominator, new_freq=rate.numerator)
    if y.shape[-1] >= length:
        return y[..., :length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


def time_stretch(x: torch.Tensor, rate: float, n_fft: int = 512, hop: int = 128,
                 keep_length: bool = True) -> torch.Tensor:
    """Stretch ``(batch, time)`` by ``rate`` (>1 faster) with a phase vocoder, keep pitch;
    with ``keep_length`` cut or zero-pad back to the input length."""
    length = x.shape[-1]
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, return_complex=True)
    advance = torch.linspace(0, torch.pi * hop, spec.shape[-2], device=x.device,
                             dtype=x.dtype)[..., None]
    stretched = AF.phase_vocoder(spec, rate, advance)
    out_len = int(round(length / rate))
    y = torch.istft(stretched, n_fft, hop_length=hop, window=window, length=out_len)
    if not keep_length:
        return y
    if y.shape[-1] >= length:
        return y[..., :length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


def augment_batch(x: torch.Tensor, sample_rate: int, cfg: AugmentConfig,
                  generator: torch.Generator) -> torch.Tensor:
    """Augment a training batch ``(batch, time)``; rows not drawn (prob ``1 - p``) are untouched.

    ``generator`` is a CPU generator: all random choices are drawn from it (noise samples too,
    via a device generator seeded from it), so results do not depend on the device.
    """
    if not cfg.enabled or x.shape[0] == 0:
        return x
    b = x.shape[0]
    chosen = torch.rand(b, generator=generator) < cfg.p
    if not bool(chosen.any()):
        return x
    # which ops each chosen example gets: a random subset of size k, applied in OPS order
    n_ops = len(cfg.ops)
    scores = torch.rand(b, n_ops, generator=generator)
    picks = scores.argsort(dim=1)[:, :cfg.ops_per_example]
    use = torch.zeros(b, n_ops, dtype=torch.bool)
    use.scatter_(1, picks, True)
    use &= chosen[:, None]
    y = x.clone()
    order = [op for op in ("speed", "stretch", "pitch", "reverb", "band", "gain", "awgn", "noise")
             if op in cfg.ops]
    for op in order:
        rows = use[:, cfg.ops.index(op)]
        idx = rows.nonzero().flatten()
        if idx.numel() == 0:
            continue
        dev_idx = idx.to(x.device)
        if op in ("awgn", "noise"):
            if op == "awgn":
                lo, hi = cfg.snr_range_db
                snr = lo + (hi - lo) * torch.rand(idx.numel(), generator=generator)
            else:
                grid = torch.tensor(cfg.snr_grid_db, dtype=torch.float32)
                snr = grid[torch.randint(len(grid), (idx.numel(),), generator=generator)]
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            dev_gen = torch.Generator(device=x.device).manual_seed(seed)
            y[dev_idx] = add_noise_snr(y[dev_idx], snr.to(x.device), dev_gen)
            continue
        if op in ("reverb", "gain", "band", "speed"):
            y[dev_idx] = _room_op(op, y[dev_idx], sample_rate, cfg, generator)
            continue
        grid = cfg.semitones if op == "pitch" else cfg.stretch_rates
        which = torch.randint(len(grid), (idx.numel(),), generator=generator)
        for g in which.unique().tolist():
            sub = dev_idx[(which == g).to(x.device)]
            if op == "pitch":
                y[sub] = pitch_shift(y[sub], sample_rate, int(grid[g]))
            else:
                y[sub] = time_stretch(y[sub], float(grid[g]))
    return y


def _room_op(op: str, x: torch.Tensor, sample_rate: int, cfg: AugmentConfig,
             generator: torch.Generator) -> torch.Tensor:
    """One of reverb / gain / band / speed on the rows ``x`` that drew it (one draw per row)."""
    n = x.shape[0]
    u = torch.rand(n, generator=generator)
    if op == "gain":
        lo, hi = cfg.gain_range_db
        return x * torch.pow(10.0, (lo + (hi - lo) * u) / 20.0).to(x)[:, None]
    out = torch.empty_like(x)
    for i in range(n):
        row = x[i:i + 1]
        if op == "reverb":
            lo, hi = cfg.rt60_range_s
            out[i:i + 1] = reverberate(row, synthetic_rir(lo + (hi - lo) * float(u[i]), sample_rate, generator))
        elif op == "band":
            cut = cfg.lowpass_grid_hz[int(u[i] * len(cfg.lowpass_grid_hz)) % len(cfg.lowpass_grid_hz)]
            out[i:i + 1] = band_limit(row, sample_rate, cfg.highpass_hz, cut)
        else:
            f = cfg.speed_factors[int(u[i] * len(cfg.speed_factors)) % len(cfg.speed_factors)]
            out[i:i + 1] = speed_perturb(row, sample_rate, f)
    return out
