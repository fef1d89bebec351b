"""Reference tests: ser_core.features against librosa 0.11, on synthetic signals and on real
speech from the corpora (``../shared/data``; those tests are marked ``corpus`` and ``slow``).

Tolerances (float32 on both sides; "max" is the largest reference value of that array):

=====================  ===========================================================
|STFT|², mel energies  max |ours - librosa| <= 1e-5 · max
mel filterbank         <= 1e-12 relative in float64 (librosa builds it in float64)
log-mel (ln)           <= 2e-3 absolute (nepers) where mel >= 1e-6 · max, 2e-2 elsewhere
deltas                 <= 1e-5 on the same input; through the whole chain as log-mel
dB values, MFCC (dB)   <= 1e-2 absolute (dB and DCT of dB)
chroma                 <= 1e-4 absolute (values in [0, 1])
pre-emphasis           <= 1e-6 absolute
=====================  ===========================================================

Conventions where the two differ, and how each test makes them equal:

* Pre-emphasis edge: librosa starts the filter from ``zi = 2·x[0] - x[1]`` (so ``y[0] =
  3x[0] - x[1]``); ours uses the sample before the clip (0 by default, ``y[0] = x[0]``, as
  torchaudio). ``zi=[-a·prev]`` makes librosa equal ours; with its default only ``y[0]`` differs.
* Centre padding: ``center=True`` pads ``n_fft // 2`` zeros (librosa >= 0.10's
  ``pad_mode="constant"``); ``pad_mode="reflect"`` is also equal. The seed's framing
  (``center=False``) starts frame ``t`` at ``t·hop`` with ``win`` samples zero-padded to
  ``n_fft``: compared with ``librosa.util.frame`` + ``np.fft.rfft``. (librosa's own
  ``center=False`` puts the window in the middle of ``n_fft`` samples instead.)
* Window: librosa uses periodic windows (``fftbins=True``); the seed's eq. 1 is symmetric
  (``periodic_window=False``), passed to librosa as a scipy array.
* Mel: ``mel_scale="htk"`` is librosa ``htk=True``; ``"slaney"`` is librosa's default; both
  ``norm="slaney"`` (area) or ``None``.
* Log: ``log="ln"`` is ``np.log(np.maximum(S, amin))``; ``log="db"`` with ``top_db`` is
  ``librosa.power_to_db(S, ref=1, amin, top_db)``.
* Deltas: ours are librosa ``delta(mode="nearest")`` (replicated edges); librosa's default
  ``mode="interp"`` differs only in the first and last ``width // 2`` frames. Delta-delta is
  the delta of the delta, not librosa's ``order=2`` Savitzky-Golay filter.
* MFCC: ``librosa.feature.mfcc(y=...)`` is the DCT of ``power_to_db(mel, top_db=80)``, so it is
  compared with ``log="db", top_db=80`` (the ``mfcc_image`` kind); ``mfcc(S=log_mel)`` with
  the seed's ln log-mel.
* Chroma: librosa estimates ``tuning`` per clip; ours fixes it (0), passed to librosa.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

librosa = pytest.importorskip("librosa")

from ser_core.features import functional as FF  # noqa: E402
from ser_core.features.chain import feature_chain  # noqa: E402
from ser_core.features.configs import MelConfig  # noqa: E402
from ser_core.features.pipeline import extract  # noqa: E402
from ser_core.features.resize import resize_bilinear  # noqa: E402

SR = 16000


def speechlike(seconds: float = 2.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding pitch with an envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    sig = sum(np.sin(k * phase) / k for k in range(1, 15))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t))
    return (0.2 * sig * env + 0.005 * rng.standard_normal(t.shape)).astype(np.float32)


def assert_rel(ours, ref, rel: float, what: str):
    ours = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else ours
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert err <= rel, f"{what}: relative error {err:.2e} > {rel:g}"


def assert_abs(ours, ref, tol: float, what: str, mask=None):
    ours = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else ours
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    diff = np.abs(ours - ref)
    if mask is not None:
        diff = diff[mask]
    assert diff.max() <= tol, f"{what}: max abs error {diff.max():.2e} > {tol:g}"


def assert_log_mel(ours, ref_mel, what: str, amin: float = 1e-10):
    ref = np.log(np.maximum(ref_mel, amin))
    loud = ref_mel >= 1e-6 * ref_mel.max()
    assert_abs(ours, ref, 2e-3, what + " (>= -60 dB)", mask=loud)
    assert_abs(ours, ref, 2e-2, what + " (all bins)")


# -- pre-emphasis ------------------------------------------------------------------------------

def test_preemphasis_vs_librosa():
    y = speechlike(0.5)
    ours = FF.preemphasis(torch.from_numpy(y), 0.97).numpy()
    assert_abs(ours, librosa.effects.preemphasis(y, coef=0.97, zi=[0.0]), 1e-6, "zi=0")
    default = librosa.effects.preemphasis(y, coef=0.97)  # zi = 2 y[0] - y[1]
    assert_abs(ours[1:], default[1:], 1e-6, "all but the first sample")
    prev = 0.25
    ours_prev = FF.preemphasis(torch.from_numpy(y), 0.97, prev=prev).numpy()
    assert_abs(ours_prev, librosa.effects.preemphasis(y, coef=0.97, zi=[-0.97 * prev]), 1e-6, "prev")


# -- spectra ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
@pytest.mark.parametrize("window", ["hamming", "hann", "blackman"])
@pytest.mark.parametrize("n_fft,win,hop", [(512, 400, 160), (2048, 2048, 512), (256, 256, 128)])
def test_centred_power_spectrogram_vs_librosa_stft(pad_mode, window, n_fft, win, hop):
    y = speechlike(1.3)
    ref = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                              center=True, pad_mode=pad_mode)) ** 2
    ours = FF.spectrogram(torch.from_numpy(y), n_fft, hop, win, window, True, True, pad_mode)
    assert_rel(ours, ref, 1e-5, "|STFT|^2")


def test_seed_framing_vs_librosa_util_frame():
    """center=False: frame t = x[t*hop : t*hop + win], symmetric Hamming, DFT zero-padded."""
    y = speechlike(1.0)
    frames = librosa.util.frame(y, frame_length=400, hop_length=160).T
    w = scipy.signal.get_window("hamming", 400, fftbins=False)
    ref = (np.abs(np.fft.rfft(frames * w, n=512, axis=-1)) ** 2).T
    ours = FF.spectrogram(torch.from_numpy(y), 512, 160, 400, "hamming", False, center=False)
    assert_rel(ours, ref, 1e-5, "seed framing")


@pytest.mark.parametrize("sr", [11025, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", ["slaney", None])
def test_mel_filterbank_vs_librosa(sr, scale, norm):
    ref = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=40, htk=scale == "htk", norm=norm,
                              dtype=np.float64)
    ours = FF.mel_filterbank(sr, 1024, 40, mel_scale=scale, norm=norm, dtype=torch.float64)
    assert_rel(ours, ref, 1e-12, f"mel {sr} {scale} {norm}")
    ref = librosa.filters.mel(sr=sr, n_fft=512, n_mels=26, fmin=100, fmax=5000,
                              htk=scale == "htk", norm=norm, dtype=np.float64)
    ours = FF.mel_filterbank(sr, 512, 26, 100.0, 5000.0, scale, norm, dtype=torch.float64)
    assert_rel(ours, ref, 1e-12, "mel band-limited")


def test_logmel_vs_librosa_melspectrogram():
    y = speechlike(2.0)
    cfg = MelConfig(zscore=False, preemphasis=0.0, periodic_window=True, center=True)
    ref_mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=160, win_length=400,
                                             window="hamming", n_mels=40, htk=True, norm="slaney")
    ours = extract("logmel", y, SR, config=cfg)[0]
    assert_log_mel(ours, ref_mel, "log-mel")


def test_seed_chain_vs_librosa_building_blocks():
    """Seed 000's whole chain (z-score, pre-emphasis, symmetric Hamming, seed framing, HTK
    mel, ln, MFCC) against numpy/librosa building blocks."""
    y = speechlike(1.5, seed=3)
    chain = feature_chain(torch.from_numpy(y), SR)  # ChainConfig defaults
    z = (y - y.mean()) / (y.std() + 1e-8)
    p = librosa.effects.preemphasis(z, coef=0.97, zi=[0.0])
    frames = librosa.util.frame(p, frame_length=400, hop_length=160).T
    w = scipy.signal.get_window("hamming", 400, fftbins=False)
    power = (np.abs(np.fft.rfft(frames * w, n=512, axis=-1)) ** 2).T
    mel = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40, htk=True, norm="slaney") @ power
    assert_abs(chain.preemphasized, p, 1e-5, "pre-emphasised")
    assert_rel(chain.spectrum, power, 1e-5, "spectrum")
    assert_rel(chain.mel, mel, 1e-5, "mel")
    assert_log_mel(chain.log_mel, mel, "log-mel")
    ref_mfcc = librosa.feature.mfcc(S=np.log(np.maximum(mel, 1e-10)), n_mfcc=40)
    assert_abs(chain.mfcc, ref_mfcc, 1e-2, "MFCC")


# -- deltas, MFCC, chroma, dB -----------------------------------------------------------------------

@pytest.mark.parametrize("width", [3, 5, 9])
def test_deltas_vs_librosa(width):
    x = np.cumsum(np.random.default_rng(0).standard_normal((40, 120)), axis=1).astype(np.float32)
    ours = FF.deltas(torch.from_numpy(x), width)
    assert_abs(ours, librosa.feature.delta(x, width=width, mode="nearest"), 1e-5, "delta")
    dd = FF.deltas(ours, width)
    ref_dd = librosa.feature.delta(librosa.feature.delta(x, width=width, mode="nearest"),
                                   width=width, mode="nearest")
    assert_abs(dd, ref_dd, 1e-5, "delta-delta")
    n = width // 2  # librosa's default edge handling ("interp") differs only at the edges
    interp = librosa.feature.delta(x, width=width)
    assert_abs(ours[:, n:-n], interp[:, n:-n], 1e-5, "interior vs mode=interp")


def test_mfcc_image_vs_librosa_feature_mfcc():
    """Seed 003's recipe: librosa.feature.mfcc defaults (dB mel, top_db 80)."""
    y = speechlike(3.0)
    hop = round(512 / 48000 * SR)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40, n_fft=1024, win_length=hop, hop_length=hop,
                               window="hamming", n_mels=128)
    ours = extract("mfcc_image", y, SR, n_frames=None)[0]
    assert_abs(ours, ref, 1e-2, "MFCC")
    assert extract("mfcc_image", y, SR).shape == (1, 40, 282)


@pytest.mark.parametrize("n_fft,hop", [(2048, 512), (1024, 256)])
def test_chroma_vs_librosa(n_fft, hop):
    y = speechlike(2.0, seed=5)
    ref = librosa.feature.chroma_stft(y=y, sr=SR, n_fft=n_fft, hop_length=hop, tuning=0.0)
    ours = extract("chroma", y, SR, win_length_s=n_fft / SR, hop_s=hop / SR, n_fft=n_fft)[0]
    assert_abs(ours, ref, 1e-4, "chroma")


def test_db_conversions_vs_librosa():
    s = np.abs(librosa.stft(speechlike(1.0)))
    for ref_kind, lib_ref in (("max", np.max), (1.0, 1.0)):
        for top_db in (80.0, None):
            assert_abs(FF.amplitude_to_db(torch.from_numpy(s), ref=ref_kind, top_db=top_db),
                       librosa.amplitude_to_db(s, ref=lib_ref, top_db=top_db), 1e-2, "amplitude dB")
            assert_abs(FF.power_to_db(torch.from_numpy(s ** 2), ref=ref_kind, top_db=top_db),
                       librosa.power_to_db(s ** 2, ref=lib_ref, top_db=top_db), 1e-2, "power dB")


def test_spectral_image_is_librosa_db_mel_resized():
    """Seed 002 (mel): pre-emphasis, trim zeros, mel, power_to_db(ref=max), N x N resize."""
    y = np.concatenate([np.zeros(300, np.float32), speechlike(1.5), np.zeros(200, np.float32)])
    p = np.trim_zeros(librosa.effects.preemphasis(y, coef=0.97, zi=[0.0]))
    mel = librosa.feature.melspectrogram(y=p, sr=SR, n_fft=2048, hop_length=372, win_length=1486)
    db = librosa.power_to_db(mel, ref=np.max)
    ref = resize_bilinear(torch.from_numpy(db), 60).numpy()
    ours = extract("spectral_image", y, SR)[0]
    assert_abs(ours, ref, 1e-2, "60x60 mel image")


# -- real speech -------------------------------------------------------------------------------------

def _corpus_files(root, pattern: str, n: int = 3):
    files = sorted(root.glob(pattern))
    assert files, f"no files matching {pattern} under {root}"
    step = max(1, len(files) // n)
    return files[::step][:n]


def _check_real_speech(path, target_sr):
    from ser_core.audio import load_audio

    audio = load_audio(path, target_sr=target_sr)
    y, sr = audio.waveform.numpy(), audio.sample_rate
    win, hop = round(0.025 * sr), round(0.010 * sr)
    n_fft = FF.next_pow2(win)
    # log-mel, deltas
    ref_mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, win_length=win,
                                             window="hamming", n_mels=40, htk=True, norm="slaney")
    lmd = extract("logmel_deltas", y, sr, zscore=False, preemphasis=0.0, periodic_window=True,
                  center=True, delta="regression", delta_width=5)
    assert_log_mel(lmd[0], ref_mel, f"{path.name} log-mel")
    ref_lm = np.log(np.maximum(ref_mel, 1e-10))
    assert_abs(lmd[1], librosa.feature.delta(ref_lm, width=5, mode="nearest"), 2e-2, "delta")
    # MFCC with librosa's own recipe (dB, top_db 80)
    mf_hop = round(512 / 48000 * sr)
    ref = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=1024, win_length=mf_hop,
                               hop_length=mf_hop, window="hamming", n_mels=128)
    assert_abs(extract("mfcc_image", y, sr, n_frames=None)[0], ref, 1e-2, f"{path.name} MFCC")
    # chroma
    ref = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=2048, hop_length=512, tuning=0.0)
    ours = extract("chroma", y, sr, win_length_s=2048 / sr, hop_s=512 / sr, n_fft=2048)[0]
    assert_abs(ours, ref, 1e-4, f"{path.name} chroma")


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.parametrize("target_sr", [None, 16000])
def test_real_speech_emodb(emodb_root, target_sr):
    for f in _corpus_files(emodb_root, "wav/*.flac"):
        _check_real_speech(f, target_sr)


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.parametrize("target_sr", [None, 16000])
def test_real_speech_ravdess(ravdess_root, target_sr):
    for f in _corpus_files(ravdess_root, "Actor_*/*.flac"):
        _check_real_speech(f, target_sr)


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.parametrize("target_sr", [None, 16000])
def test_real_speech_emovo(emovo_root, target_sr):
    for f in _corpus_files(emovo_root, "*/*.flac"):
        _check_real_speech(f, target_sr)
