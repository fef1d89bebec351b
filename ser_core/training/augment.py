"""On-the-fly waveform augmentation of the seeds, applied to training batches only.

* seed 003: additive white Gaussian noise (AWGN) at an SNR drawn uniformly from a range. The
  seed's text gives no numbers; its public notebook used 15-30 dB, which is the default. The
  seed adds two noisy copies of every clip (1:2 clean:noisy); on the fly that is
  ``p = 2/3`` per example per epoch (preset ``"awgn"``).
* seed 002 ("Speech Manipulation Techniques"): pitch shift by -2/-1/+1/+2 semitones, time
  stretch with a rate from 0.75 … 1.25 and Gaussian noise at an SNR from 7 … 20 dB, each
  value drawn from the seed's grids, *pairs* of these applied to "a small portion" of the
  data (the portion is not given; preset ``"seed002"`` uses ``p = 0.25``).

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

OPS = ("awgn", "noise", "pitch", "stretch")
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

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"augmentation probability must be within 0..1, not {self.p}.")
        bad = set(self.ops) - set(OPS)
        if bad:
            raise ConfigError(f"unknown augmentation(s) {sorted(bad)}; known: {', '.join(OPS)}.")
        if self.ops and not 1 <= self.ops_per_example <= len(self.ops):
            raise ConfigError("ops_per_example must be between 1 and the number of ops.")
        lo, hi = self.snr_range_db
        if lo > hi:
            raise ConfigError(f"SNR range {lo}-{hi} dB is empty.")

    @property
    def enabled(self) -> bool:
        return self.p > 0 and bool(self.ops)


PRESETS = {
    "none": AugmentConfig(),
    "awgn": AugmentConfig(p=2 / 3, ops=("awgn",)),
    "seed002": AugmentConfig(p=0.25, ops=("pitch", "stretch", "noise"), ops_per_example=2),
}


def parse_augment(spec: str | None) -> AugmentConfig:
    """``"none"``, ``"awgn"``, ``"seed002"``, optionally followed by ``,key=value`` overrides:
    ``p=0.5``, ``snr=10-20`` (AWGN range), ``ops=pitch+noise``, ``k=2`` (ops per example).

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
            else:
                raise ConfigError(f"unknown augmentation option {key!r} (p, snr, ops, k).")
        except ValueError:
            raise ConfigError(f"augmentation option {item!r} has a bad value.") from None
    return dataclasses.replace(cfg, **changes) if changes else cfg


# -- the ops ----------------------------------------------------------------------------

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
    order = [op for op in ("stretch", "pitch", "awgn", "noise") if op in cfg.ops]
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
        grid = cfg.semitones if op == "pitch" else cfg.stretch_rates
        which = torch.randint(len(grid), (idx.numel(),), generator=generator)
        for g in which.unique().tolist():
            sub = dev_idx[(which == g).to(x.device)]
            if op == "pitch":
                y[sub] = pitch_shift(y[sub], sample_rate, int(grid[g]))
            else:
                y[sub] = time_stretch(y[sub], float(grid[g]))
    return y
