"""Feature configurations: frozen, flat dataclasses whose defaults are the seeds' values.

Time settings are in seconds (``win_length_s``, ``hop_s``) and become samples at the sample
rate of the audio (:meth:`SpectrogramConfig.win_samples` ...); ``n_fft`` is a count of
samples (``None``: the next power of two >= the window). Every config is flat (no nested
dataclasses) so that it round-trips through a checkpoint's JSON::

    cfg == type(cfg)(**dataclasses.asdict(cfg))

Invalid values raise :class:`~ser_core.errors.ConfigError` with a sentence a person can act
on; that is what the CLI prints after ``error:``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from ser_core.errors import ConfigError
from ser_core.features.functional import LOG_KINDS, WINDOWS, next_pow2

DELTA_METHODS = ("regression", "difference")
IMAGE_SOURCES = ("mel", "chroma", "mfcc")
CHROMA_NORMS = ("max", "l2", "none")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# Upper bounds on numeric parameters, whatever their source (CLI, widget, checkpoint): far
# above any seed's value, low enough that no setting can exhaust the machine's memory.
MAX_N_FFT = 16384            # samples (1 s at 16 kHz, 85 ms at 192 kHz)
MAX_WINDOW_S = 1.0           # frame length and hop, seconds
MIN_HOP_S = 1e-4
MAX_BANDS = 512              # mel bands, MFCCs, chroma bins
MAX_FRAMES = 100_000         # fixed output lengths (n_frames)
MAX_IMAGE = 1024             # spectral image side
#: time-frequency bins one extraction may produce (batch x frames x (n_fft/2 + 1)):
#: 10 minutes at a 10 ms hop with n_fft up to 2048
MAX_SPECTRUM_BINS = 1 << 26


def _check_int(value, low: int, high: int, name: str) -> None:
    _check(value is not None and not isinstance(value, bool) and float(value) == int(value)
           and low <= int(value) <= high, f"{name} must be a whole number from {low} to {high}, not {value}.")


def check_work_size(cfg, n_samples: int, sample_rate: int, batch: int = 1) -> None:
    """Refuse an extraction whose spectrogram would not fit (e.g. a huge ``n_fft`` on a long
    clip) before any memory is allocated."""
    if not hasattr(cfg, "fft_size"):
        return
    n_fft = cfg.fft_size(sample_rate)
    frames = n_samples // cfg.hop_samples(sample_rate) + 1
    bins = batch * frames * (n_fft // 2 + 1)
    _check(bins <= MAX_SPECTRUM_BINS,
           f"these settings would make {bins / 1e6:.0f} million time-frequency values "
           f"({frames} frames x {n_fft // 2 + 1} bins); the limit is {MAX_SPECTRUM_BINS / 1e6:.0f} "
           f"million. Use a larger hop, a smaller n_fft or a shorter clip.")


@dataclass(frozen=True)
class FeatureConfig:
    """Base of all feature configs: dict round trip and validated copies.

    lowpass_hz: band-limit the waveform to this frequency before anything else (``None``:
        off). Every kind honours it (``pipeline.extract`` applies it), so a model trained on
        band-limited corpora (RAVDESS and Emo-DB here were resampled to 11 025 Hz, i.e. no
        energy above ~5.5 kHz) can be fed full-band microphone audio through the same
        filter: the shipped checkpoints use 5500.
    gain_normalize: scale each waveform (each segment a model sees) to zero mean and unit
        variance right after the low-pass, for every kind, so that features do not depend on
        the recording level. Here RAVDESS, Emo-DB and EMOVO differ in RMS level by a factor of
        six, and a microphone's gain is anyone's guess: without it a model learns "loud corpus"
        and "loud microphone" instead of emotion. The shipped checkpoints use it.
    center_time: subtract from every feature bin its mean over the segment's frames (the
        frames of its real audio: a segment's trailing zero padding is left out of the mean),
        i.e. per-utterance cepstral / log-spectral mean normalisation. It removes a steady
        colouring of the microphone and the room, and the speaker's own spectral envelope,
        from every input with frequency bins; waveform and vector kinds are left as they are.
        Off by default: it also removes each clip's average spectral tilt, which carries
        arousal, so it is a recipe choice measured with leave-one-corpus-out (README).
    """

    lowpass_hz: Optional[float] = None
    gain_normalize: bool = False
    center_time: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**data)

    def replace(self, **changes):
        """A copy with some fields changed; unknown names raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                              f"its parameters are {', '.join(sorted(known))}.")
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:  # overridden; each level calls super()
        _check(self.lowpass_hz is None or 0 < float(self.lowpass_hz) <= 96_000,
               "lowpass_hz must be above 0 and at most 96000 Hz.")


@dataclass(frozen=True)
class PreemphasisConfig(FeatureConfig):
    """Waveform preparation of seed 000 §3.1.1: z-score, then pre-emphasis.

    zscore: normalise each signal to zero mean and unit variance first.
    preemphasis: coefficient ``a`` of ``y[n] = x[n] - a·x[n-1]`` (0 disables).
    """

    zscore: bool = True
    preemphasis: float = 0.97

    def validate(self) -> None:
        super().validate()
        _check(0.0 <= float(self.preemphasis) < 1.0,
               f"pre-emphasis coefficient must be in [0, 1), not {self.preemphasis}.")


@dataclass(frozen=True)
class SpectrogramConfig(PreemphasisConfig):
    """Framing, window and power spectrum (seed 000: 25 ms Hamming, 10 ms shift).

    win_length_s, hop_s: frame length and shift in seconds.
    n_fft: DFT size in samples (``None``: next power of two >= the window in samples).
    window: hamming (eq. 1), hann, blackman, bartlett or rectangular.
    periodic_window: ``False`` symmetric (eq. 1); ``True`` periodic (librosa's default).
    center: pad ``n_fft // 2`` each side and centre frames on ``t·hop`` (librosa); ``False``
        starts frame ``t`` at sample ``t·hop`` (the seed's framing).
    pad_mode: ``"constant"`` (zeros, librosa >= 0.10) or ``"reflect"`` when ``center``.
    power: 2 for power ``|X|²`` (eq. 6), 1 for magnitude.
    log: ``"none"``, ``"ln"`` (eq. 6) or ``"db"`` (10·log10); values floored at ``amin``,
        optionally at ``max - top_db`` dB.
    """

    win_length_s: float = 0.025
    hop_s: float = 0.010
    n_fft: Optional[int] = None
    window: str = "hamming"
    periodic_window: bool = False
    center: bool = False
    pad_mode: str = "constant"
    power: float = 2.0
    log: str = "none"
    amin: float = 1e-10
    top_db: Optional[float] = None

    def validate(self) -> None:
        super().validate()
        _check(self.win_length_s > 0, f"frame length must be positive, not {self.win_length_s} s.")
        _check(self.hop_s > 0, f"hop must be positive, not {self.hop_s} s.")
        _check(self.win_length_s <= MAX_WINDOW_S,
               f"frame length must be at most {MAX_WINDOW_S:g} s, not {self.win_length_s} s.")
        _check(MIN_HOP_S <= self.hop_s <= MAX_WINDOW_S,
               f"hop must be from {MIN_HOP_S:g} to {MAX_WINDOW_S:g} s, not {self.hop_s} s.")
        _check(self.n_fft is None or int(self.n_fft) >= 2, f"n_fft must be >= 2, not {self.n_fft}.")
        if self.n_fft is not None:
            _check_int(self.n_fft, 2, MAX_N_FFT, "n_fft")
        _check(self.window in WINDOWS + ("boxcar", "rect"),
               f"unknown window {self.window!r}; choose one of {', '.join(WINDOWS)}.")
        _check(self.pad_mode in ("constant", "reflect"),
               f"pad_mode must be 'constant' or 'reflect', not {self.pad_mode!r}.")
        _check(self.power in (1.0, 2.0), f"power must be 1 or 2, not {self.power}.")
        _check(self.log in LOG_KINDS, f"log must be one of {', '.join(LOG_KINDS)}, not {self.log!r}.")
        _check(self.amin > 0, "amin must be positive.")
        _check(self.top_db is None or self.top_db >= 0, "top_db must be >= 0.")

    def win_samples(self, sample_rate: int) -> int:
        return max(1, int(round(self.win_length_s * sample_rate)))

    def hop_samples(self, sample_rate: int) -> int:
        return max(1, int(round(self.hop_s * sample_rate)))

    def fft_size(self, sample_rate: int) -> int:
        win = self.win_samples(sample_rate)
        n_fft = next_pow2(win) if self.n_fft is None else int(self.n_fft)
        _check(n_fft >= win, f"n_fft ({n_fft}) must be at least the frame length "
                             f"({win} samples = {self.win_length_s * 1000:g} ms at {sample_rate} Hz).")
        return n_fft


@dataclass(frozen=True)
class MelConfig(SpectrogramConfig):
    """Mel filterbank and log (seed 000 eqs. 2-6): 40 filters, HTK mel scale, area-normalised
    triangles (eq. 3), natural log (eq. 6).

    n_mels, f_min, f_max (Hz; ``None`` = Nyquist), mel_scale ``"htk"``/``"slaney"``,
    mel_norm ``"slaney"`` (area) or ``None`` (peak 1).
    """

    n_mels: int = 40
    f_min: float = 0.0
    f_max: Optional[float] = None
    mel_scale: str = "htk"
    mel_norm: Optional[str] = "slaney"
    log: str = "ln"

    def validate(self) -> None:
        super().validate()
        _check_int(self.n_mels, 1, MAX_BANDS, "n_mels")
        _check(self.mel_scale in ("htk", "slaney"), f"mel_scale must be 'htk' or 'slaney', not {self.mel_scale!r}.")
        _check(self.mel_norm in (None, "slaney"), f"mel_norm must be 'slaney' or None, not {self.mel_norm!r}.")
        _check(self.f_min >= 0, "f_min must be >= 0.")
        _check(self.f_max is None or self.f_max > self.f_min, "f_max must be above f_min.")

    def mel_f_max(self, sample_rate: int) -> float:
        f_max = sample_rate / 2 if self.f_max is None else min(float(self.f_max), sample_rate / 2)
        return float(f_max)


@dataclass(frozen=True)
class DeltaConfig(MelConfig):
    """Delta and delta-delta of the log-mel (seed 000 eqs. 7-8).

    delta: ``"difference"`` (the seed's ``S_t - S_{t-1}``) or ``"regression"`` (HTK,
        torchaudio, librosa ``mode="nearest"``) over ``delta_width`` frames.
    """

    delta: str = "difference"
    delta_width: int = 5

    def validate(self) -> None:
        super().validate()
        _check(self.delta in DELTA_METHODS, f"delta must be one of {', '.join(DELTA_METHODS)}, not {self.delta!r}.")
        _check(int(self.delta_width) >= 3 and int(self.delta_width) % 2 == 1,
               f"delta_width must be an odd integer >= 3, not {self.delta_width}.")
        _check_int(self.delta_width, 3, 99, "delta_width")


@dataclass(frozen=True)
class MfccConfig(DeltaConfig):
    """MFCC = DCT-II of the log-mel (seed 000 §3.2.1, 40 MFCCs from 40 mel bands).

    n_mfcc, dct_norm (``"ortho"``), lifter (HTK liftering, 0 = off),
    n_frames: crop or edge-pad the time axis to exactly this many frames (``None``: natural).
    """

    n_mfcc: int = 40
    dct_norm: Optional[str] = "ortho"
    lifter: int = 0
    n_frames: Optional[int] = None

    def validate(self) -> None:
        super().validate()
        _check(1 <= int(self.n_mfcc) <= int(self.n_mels),
               f"n_mfcc ({self.n_mfcc}) must be between 1 and n_mels ({self.n_mels}).")
        _check(self.dct_norm in (None, "ortho"), "dct_norm must be 'ortho' or None.")
        _check_int(self.lifter, 0, 1000, "lifter")
        if self.n_frames is not None:
            _check_int(self.n_frames, 1, MAX_FRAMES, "n_frames")


#: The whole teaching chain of seed 000 §3.1.1 + §3.2.1 uses these settings by default.
ChainConfig = MfccConfig


@dataclass(frozen=True)
class MfccImageConfig(MfccConfig):
    """Seed 003: MFCC 40 x 282 for a 3 s clip, treated as a 1-channel image.

    The seed's public code (librosa defaults at 48 kHz: ``n_fft`` 1024, Hamming window 512,
    hop 512, 128 slaney mels, power_to_db with ``top_db`` 80, DCT-II ortho) gives 282 frames
    for 3 s. Here the window and hop keep the seed's *duration* (512/48000 s = 10.7 ms) at any
    rate; at 16 kHz that is 171 samples and 281 frames, so ``n_frames=282`` pads the last frame.
    """

    zscore: bool = False
    preemphasis: float = 0.0
    win_length_s: float = 512 / 48000
    hop_s: float = 512 / 48000
    n_fft: Optional[int] = 1024
    window: str = "hamming"
    periodic_window: bool = True
    center: bool = True
    n_mels: int = 128
    mel_scale: str = "slaney"
    mel_norm: Optional[str] = "slaney"
    log: str = "db"
    top_db: Optional[float] = 80.0
    n_mfcc: int = 40
    n_frames: Optional[int] = 282


@dataclass(frozen=True)
class Mfcc39Config(MfccConfig):
    """Seed 004's M_LSTM input: 13 MFCC + 13 delta + 13 acceleration = 39 per 25 ms frame.

    The seed used openSMILE's ``MFCC12_E_D_A`` (pre-emphasis 0.97, Hamming 25 ms / 10 ms,
    26 HTK mel bands with peak-1 triangles, cepstral lifter 22, regression deltas over 5
    frames). Deviation: c0 stands in for openSMILE's log-energy coefficient.
    """

    zscore: bool = False
    preemphasis: float = 0.97
    n_mels: int = 26
    mel_norm: Optional[str] = None
    n_mfcc: int = 13
    lifter: int = 22
    delta: str = "regression"
    delta_width: int = 5


@dataclass(frozen=True)
class ChromaConfig(SpectrogramConfig):
    """STFT chromagram (seed 002), librosa ``chroma_stft`` defaults expressed in seconds
    (``n_fft`` 2048 and hop 512 at 22 050 Hz; Hann, centred). ``tuning`` is fixed (0 by
    default) where librosa estimates it from the clip."""

    zscore: bool = False
    preemphasis: float = 0.0
    win_length_s: float = 2048 / 22050
    hop_s: float = 512 / 22050
    window: str = "hann"
    periodic_window: bool = True
    center: bool = True
    n_chroma: int = 12
    tuning: float = 0.0
    chroma_norm: str = "max"

    def validate(self) -> None:
        super().validate()
        _check_int(self.n_chroma, 1, MAX_BANDS, "n_chroma")
        _check(self.chroma_norm in CHROMA_NORMS, f"chroma_norm must be one of {', '.join(CHROMA_NORMS)}.")


@dataclass(frozen=True)
class SpectralImageConfig(MfccConfig):
    """Seed 002's NxN spectral images: pre-emphasis -> trim zeros -> feature -> dB -> resize.

    source: ``"mel"`` (power mel, ``power_to_db`` ref=max), ``"chroma"`` (``amplitude_to_db``
        ref=max) or ``"mfcc"`` (already logarithmic: no further dB). librosa defaults as in
        :class:`ChromaConfig`; 128 mels, 20 MFCCs. ``size`` N of the N x N image (60 is the
        seed's best), ``antialias`` as torchvision's ``Resize``.
    """

    source: str = "mel"
    size: int = 60
    trim_zeros: bool = True
    antialias: bool = True
    zscore: bool = False
    preemphasis: float = 0.97
    win_length_s: float = 2048 / 22050
    hop_s: float = 512 / 22050
    window: str = "hann"
    periodic_window: bool = True
    center: bool = True
    n_mels: int = 128
    mel_scale: str = "slaney"
    log: str = "db"
    top_db: Optional[float] = 80.0
    n_mfcc: int = 20
    n_chroma: int = 12
    tuning: float = 0.0

    def validate(self) -> None:
        super().validate()
        _check(self.source in IMAGE_SOURCES,
               f"source must be one of {', '.join(IMAGE_SOURCES)}, not {self.source!r}.")
        _check_int(self.size, 2, MAX_IMAGE, "image size")


@dataclass(frozen=True)
class MelPairConfig(FeatureConfig):
    """Seed 004's two mel-spectrograms of the raw waveform: ``n_fft`` 256 and 512 samples,
    hop 50 % and mel bands 25 % of ``n_fft`` (so 256/128/64 and 512/256/128), each
    nearest-neighbour interpolated along time to a target length (the median length of the
    training set; ``None`` keeps the natural length), then log (ln).

    Window and mel settings are librosa's defaults (Hann, centred, slaney mel), which the
    seed does not state.
    """

    n_fft_short: int = 256
    n_fft_long: int = 512
    pair_hop_fraction: float = 0.5
    pair_mel_fraction: float = 0.25
    pair_window: str = "hann"
    pair_center: bool = True
    pair_f_min: float = 0.0
    pair_f_max: Optional[float] = None
    pair_mel_scale: str = "slaney"
    pair_mel_norm: Optional[str] = "slaney"
    pair_amin: float = 1e-10
    n_frames_short: Optional[int] = None
    n_frames_long: Optional[int] = None

    def validate(self) -> None:
        super().validate()
        _check_int(self.n_fft_short, 8, MAX_N_FFT, "n_fft_short")
        _check_int(self.n_fft_long, 8, MAX_N_FFT, "n_fft_long")
        _check(0 < self.pair_hop_fraction <= 1 and 0 < self.pair_mel_fraction <= 1,
               "hop and mel fractions must be in (0, 1].")
        _check(self.pair_window in WINDOWS, f"unknown window {self.pair_window!r}.")
        _check(self.pair_mel_scale in ("htk", "slaney"), "pair_mel_scale must be 'htk' or 'slaney'.")
        _check(self.pair_mel_norm in (None, "slaney"), "pair_mel_norm must be 'slaney' or None.")
        for name in ("n_frames_short", "n_frames_long"):
            v = getattr(self, name)
            if v is not None:
                _check_int(v, 1, MAX_FRAMES, name)

    def resolution(self, which: str) -> tuple[int, int, int]:
        """``(n_fft, hop, n_mels)`` of the ``"short"`` or ``"long"`` spectrogram."""
        n_fft = int(self.n_fft_short if which == "short" else self.n_fft_long)
        return (n_fft, max(1, int(round(n_fft * self.pair_hop_fraction))),
                max(1, int(round(n_fft * self.pair_mel_fraction))))


@dataclass(frozen=True)
class DualLevelConfig(Mfcc39Config, MelPairConfig):
    """Seed 004's whole input: the 39-d MFCC (``zscore``/``preemphasis`` apply to this branch
    only) and the two-resolution mel pair of the raw waveform."""


@dataclass(frozen=True)
class WaveformConfig(PreemphasisConfig):
    """Raw waveform input (seed 001): optionally z-scored; no pre-emphasis by default."""

    zscore: bool = False
    preemphasis: float = 0.0
