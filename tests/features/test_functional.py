"""Properties of the pure-torch feature functions (synthetic signals, fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ser_core.features import functional as FF
from ser_core.features.chroma import chroma, chroma_filterbank
from ser_core.features.resize import fix_frames, interpolate_time_nearest, resize_bilinear

SR = 16000


def chirp(seconds: float = 1.0, sr: int = SR, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = scipy.signal.chirp(t, 100, seconds, 6000) * 0.3 + 0.01 * rng.standard_normal(t.shape)
    return torch.from_numpy(x.astype(np.float32))


# -- waveform --------------------------------------------------------------------------------

def test_zscore_gives_zero_mean_unit_variance_per_signal():
    x = torch.randn(4, 8000) * torch.tensor([[0.1], [1.0], [5.0], [100.0]]) + 3.0
    z = FF.zscore(x)
    assert torch.allclose(z.mean(-1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z.std(-1, unbiased=False), torch.ones(4), atol=1e-4)


def test_zscore_of_silence_is_finite_zero():
    z = FF.zscore(torch.zeros(2, 100))
    assert torch.isfinite(z).all() and (z == 0).all()


def test_zscore_with_given_statistics():
    x = torch.randn(100)
    assert torch.allclose(FF.zscore(x, mean=1.0, std=2.0, eps=0.0), (x - 1.0) / 2.0)


def test_preemphasis_formula_and_first_sample():
    x = torch.randn(3, 500)
    y = FF.preemphasis(x, 0.97)
    assert torch.equal(y[..., 0], x[..., 0])  # x[-1] = 0 by default (torchaudio's convention)
    assert torch.allclose(y[..., 1:], x[..., 1:] - 0.97 * x[..., :-1])


@pytest.mark.parametrize("cuts", [[1], [17, 300], [1, 2, 3, 999], [250, 251, 600]])
def test_blockwise_preemphasis_equals_whole(cuts):
    """Streaming: each block gets the previous block's last sample as ``prev``."""
    x = torch.randn(2, 1000)
    whole = FF.preemphasis(x, 0.95)
    pieces, prev = [], None
    for a, b in zip([0] + cuts, cuts + [1000]):
        block = x[..., a:b]
        pieces.append(FF.preemphasis(block, 0.95, prev=prev))
        prev = block[..., -1]
    assert torch.allclose(torch.cat(pieces, -1), whole, atol=1e-6)


def test_preemphasis_zero_coefficient_is_identity():
    x = torch.randn(50)
    assert torch.equal(FF.preemphasis(x, 0.0), x)


def test_lowpass_removes_above_and_keeps_below_cutoff():
    t = torch.arange(SR, dtype=torch.float64) / SR  # whole periods: no leakage
    low, high = torch.sin(2 * math.pi * 1000 * t).float(), torch.sin(2 * math.pi * 7000 * t).float()
    y = FF.lowpass(low + high, SR, 5500.0)
    assert torch.allclose(y, low, atol=1e-3)
    assert torch.equal(FF.lowpass(low, SR, 8000.0), low)  # at Nyquist: unchanged


def test_trim_zeros_matches_numpy():
    x = np.array([0, 0, 1.5, 0, -2, 0, 0, 0], dtype=np.float32)
    assert np.array_equal(FF.trim_zeros(torch.from_numpy(x)).numpy(), np.trim_zeros(x))
    assert FF.trim_zeros(torch.zeros(5)).numel() == 0


# -- framing, windows, spectra ------------------------------------------------------------------

@pytest.mark.parametrize("n", [100, 399, 400, 401, 16000, 16161])
@pytest.mark.parametrize("center", [False, True])
def test_frame_count_and_content(n, center):
    x = torch.randn(n)
    frames = FF.frame(x, 400, 160, center=center, n_fft=512)
    assert frames.shape == (FF.num_frames(n, 400, 160, center, 512), 400)
    if not center and n >= 400:
        assert torch.equal(frames[3 if frames.shape[0] > 3 else 0],
                           x[(3 if frames.shape[0] > 3 else 0) * 160:][:400])
    if center:  # librosa's frame count for centred STFT: 1 + n // hop
        assert frames.shape[0] == 1 + n // 160


def test_centred_frame_is_centred_on_its_sample():
    x = torch.arange(2000, dtype=torch.float32)
    frames = FF.frame(x, 400, 160, center=True, n_fft=512)
    t = 5  # frame t covers [t*hop - win/2, t*hop + win/2)
    assert torch.equal(frames[t], x[t * 160 - 200: t * 160 + 200])


@pytest.mark.parametrize("name,scipy_name", [("hamming", "hamming"), ("hann", "hann"),
                                             ("blackman", "blackman"), ("bartlett", "bartlett"),
                                             ("rectangular", "boxcar")])
@pytest.mark.parametrize("periodic", [False, True])
def test_windows_match_scipy(name, scipy_name, periodic):
    ours = FF.get_window(name, 400, periodic, dtype=torch.float64).numpy()
    ref = scipy.signal.get_window(scipy_name, 400, fftbins=periodic)
    assert np.allclose(ours, ref, atol=1e-12)


def test_hamming_is_seed_equation_1():
    n = np.arange(400)
    eq1 = 0.54 - 0.46 * np.cos(2 * np.pi * n / (400 - 1))
    assert np.allclose(FF.get_window("hamming", 400, dtype=torch.float64).numpy(), eq1, atol=1e-12)


def test_unknown_window_is_refused():
    with pytest.raises(ValueError, match="unknown window"):
        FF.get_window("kaiserish", 10)


def test_power_spectrum_is_squared_dft_magnitude():
    frames = torch.randn(7, 400, dtype=torch.float64)
    ref = np.abs(np.fft.rfft(frames.numpy(), n=512, axis=-1)) ** 2
    assert np.allclose(FF.power_spectrum(frames, 512).numpy(), ref.T, rtol=1e-10)
    mag = FF.power_spectrum(frames, 512, power=1.0).numpy()
    assert np.allclose(mag, np.sqrt(ref.T), rtol=1e-10)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("n_fft,win,hop", [(512, 400, 160), (1024, 171, 171), (2048, 1486, 372),
                                           (256, 256, 128)])
def test_fast_spectrogram_equals_frame_window_dft(center, n_fft, win, hop):
    """The blocked strided path equals the teaching path (frames -> window -> DFT)."""
    x = torch.randn(3, 20000)
    w = FF.get_window("hamming", win)
    slow = FF.power_spectrum(FF.frame(x, win, hop, center, n_fft) * w, n_fft)
    fast = FF.spectrogram(x, n_fft, hop, win, "hamming", False, center)
    assert fast.shape == slow.shape
    assert (fast - slow).abs().max() <= 1e-5 * slow.abs().max()
    fb = FF.mel_filterbank(SR, n_fft, 40)
    fused = FF.spectrogram(x, n_fft, hop, win, "hamming", False, center, filterbank=fb)
    assert (fused - fb @ slow).abs().max() <= 1e-5 * fused.abs().max()


@pytest.mark.parametrize("shape,block_frames", [((5, 30000), 37),    # blocks along time
                                                ((9, 3000), 40)])     # blocks of whole clips
def test_spectrogram_blocking_does_not_change_values(monkeypatch, shape, block_frames):
    x = torch.randn(*shape)
    fb = FF.mel_filterbank(SR, 512, 40)
    one_pass = FF.spectrogram(x, 512, 160, 400, "hamming", True, True)
    mel = FF.spectrogram(x, 512, 160, 400, "hamming", True, True, filterbank=fb)
    monkeypatch.setattr(FF, "CPU_BLOCK_SAMPLES", 512 * block_frames // torch.get_num_threads())
    blocked = FF.spectrogram(x, 512, 160, 400, "hamming", True, True)
    assert torch.allclose(one_pass, blocked, rtol=1e-6, atol=1e-6)
    blocked_mel = FF.spectrogram(x, 512, 160, 400, "hamming", True, True, filterbank=fb)
    assert torch.allclose(mel, blocked_mel, rtol=1e-5, atol=1e-6)


def test_sinusoid_peaks_at_its_bin():
    t = torch.arange(SR) / SR
    spec = FF.spectrogram(torch.sin(2 * math.pi * 1000 * t), 512, 160, 400, "hamming")
    assert int(spec[:, 20].argmax()) == round(1000 / (SR / 512))


# -- mel ------------------------------------------------------------------------------------------

def test_mel_filterbank_seed_equations_2_to_5():
    """HTK mel (eq. 2 with log10, eq. 5), boundary points (eq. 4), area-normalised triangles
    (eq. 3 up to the constant factor sample_rate / n_fft between Hz and bins)."""
    sr, n_fft, m = SR, 512, 40
    b = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    b_inv = lambda v: 700 * (10 ** (v / 2595) - 1)  # noqa: E731
    edges = b_inv(b(0) + np.arange(m + 2) * (b(sr / 2) - b(0)) / (m + 1))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    ref = np.zeros((m, freqs.size))
    for i in range(m):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = 2 * (freqs - lo) / ((hi - lo) * (c - lo))
        down = 2 * (hi - freqs) / ((hi - lo) * (hi - c))
        ref[i] = np.maximum(0, np.minimum(up, down))
    ours = FF.mel_filterbank(sr, n_fft, m, mel_scale="htk", norm="slaney", dtype=torch.float64)
    assert np.allclose(ours.numpy(), ref, rtol=1e-9, atol=1e-12)
    assert np.allclose(FF.mel_band_edges(sr, m).numpy(), edges, rtol=1e-5)


def test_mel_filterbank_matches_torchaudio_for_even_rates():
    import torchaudio.functional as AF

    ref = AF.melscale_fbanks(257, 0.0, 8000.0, 40, SR, norm="slaney", mel_scale="htk").T
    assert torch.allclose(FF.mel_filterbank(SR, 512, 40), ref, rtol=1e-4, atol=1e-7)


def test_peak_one_filters_without_norm():
    fb = FF.mel_filterbank(SR, 2048, 20, norm=None)
    assert torch.all(fb.max(dim=1).values > 0.9) and torch.all(fb.max(dim=1).values <= 1.0)


# -- log, dB --------------------------------------------------------------------------------------

def test_log_compress_kinds():
    x = torch.tensor([[1e-12, 1.0, math.e]])
    assert torch.allclose(FF.log_compress(x, "ln", amin=1e-10),
                          torch.tensor([[math.log(1e-10), 0.0, 1.0]]))
    assert torch.allclose(FF.log_compress(x, "db", amin=1e-10), 10 * torch.log10(x.clamp_min(1e-10)))
    assert torch.equal(FF.log_compress(x, "none"), x)
    floored = FF.log_compress(torch.tensor([[1.0, 1e-9]]), "ln", top_db=20.0)
    assert torch.allclose(floored, torch.tensor([[0.0, -20 * math.log(10) / 10]]))


def test_db_floor_is_per_map():
    x = torch.stack([torch.full((3, 4), 1.0), torch.full((3, 4), 1e-3)])
    x[0, 0, 0] = 1e-12
    db = FF.power_to_db(x, top_db=80.0)
    assert db[0].min() == pytest.approx(-80.0)
    assert torch.allclose(db[1], torch.full((3, 4), -30.0), atol=1e-4)


# -- deltas ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [3, 5, 7, 9])
def test_regression_delta_of_a_ramp_is_its_slope(width):
    t = torch.arange(50, dtype=torch.float64)
    ramp = torch.stack([2.5 * t - 3, -0.5 * t + 10])
    d = FF.deltas(ramp, width)
    n = (width - 1) // 2
    interior = d[:, n:-n]  # edge frames are replicated, so the slope bends there
    assert torch.allclose(interior, torch.tensor([[2.5], [-0.5]], dtype=torch.float64).expand_as(interior))
    assert torch.allclose(FF.deltas(d, width)[:, 2 * n:-2 * n], torch.zeros(2, 50 - 4 * n, dtype=torch.float64), atol=1e-12)


def test_first_difference_of_a_ramp_is_constant():
    ramp = 0.7 * torch.arange(20, dtype=torch.float64)
    d = FF.first_difference(ramp)
    assert d[0] == 0 and torch.allclose(d[1:], torch.full((19,), 0.7, dtype=torch.float64))
    dd = FF.first_difference(d)  # eq. 8: the change of the change, 0 after the start
    assert torch.allclose(dd[2:], torch.zeros(18, dtype=torch.float64))


def test_deltas_match_torchaudio_compute_deltas():
    import torchaudio.functional as AF

    x = torch.randn(2, 3, 40, 77)
    for w in (3, 5, 9):
        assert torch.allclose(FF.deltas(x, w), AF.compute_deltas(x, w), atol=1e-6)


def test_deltas_of_a_constant_are_zero_and_width_is_checked():
    assert torch.equal(FF.deltas(torch.ones(4, 10)), torch.zeros(4, 10))
    with pytest.raises(ValueError):
        FF.deltas(torch.ones(4, 10), 4)


# -- cepstra, chroma --------------------------------------------------------------------------------

def test_dct_is_orthonormal_and_mfcc_is_dct_ii():
    import scipy.fft

    d = FF.dct_matrix(40, 40, dtype=torch.float64)  # torchaudio builds it in float32
    assert torch.allclose(d @ d.T, torch.eye(40, dtype=torch.float64), atol=1e-5)
    lm = torch.randn(40, 30, dtype=torch.float64)
    ref = scipy.fft.dct(lm.numpy(), type=2, norm="ortho", axis=0)[:13]
    assert np.allclose(FF.mfcc(lm, 13).numpy(), ref, atol=1e-5)


def test_htk_lifter_leaves_c0():
    w = FF.lifter_weights(13, 22, dtype=torch.float64)
    assert w[0] == 1.0 and w[11] == pytest.approx(1 + 11 * math.sin(math.pi * 11 / 22))


def test_chroma_of_a4_peaks_at_a():
    t = torch.arange(SR) / SR
    spec = FF.spectrogram(torch.sin(2 * math.pi * 440 * t), 2048, 512, 2048, "hann")
    c = chroma(spec, chroma_filterbank(SR, 2048))
    assert int(c[:, 10].argmax()) == 9  # C, C#, D, ..., A is index 9
    assert torch.allclose(c.max(dim=0).values, torch.ones(c.shape[1]))


# -- resizing, interpolation ---------------------------------------------------------------------------

def test_resize_bilinear_shapes_and_constants():
    x = torch.full((2, 1, 128, 94), 3.0)
    for aa in (True, False):
        y = resize_bilinear(x, 60, antialias=aa)
        assert y.shape == (2, 1, 60, 60) and torch.allclose(y, torch.full_like(y, 3.0))
    img = torch.randn(40, 282)
    assert torch.allclose(resize_bilinear(img, (40, 282)), img, atol=1e-6)
    up = resize_bilinear(torch.tensor([[0.0, 1.0]]), (1, 4), antialias=False)
    assert torch.allclose(up, torch.tensor([[0.0, 0.25, 0.75, 1.0]]))


def test_nearest_time_interpolation_picks_input_frames():
    x = torch.arange(10, dtype=torch.float32).reshape(1, 1, 10).expand(2, 3, 10)
    for target in (4, 10, 23):
        y = interpolate_time_nearest(x, target)
        idx = torch.floor(torch.arange(target) * 10 / target).long()
        assert y.shape == (2, 3, target) and torch.equal(y[0, 0], idx.float())


def test_fix_frames_crops_or_repeats_the_last_frame():
    x = torch.arange(5.0).reshape(1, 5)
    assert torch.equal(fix_frames(x, 3), x[:, :3])
    assert torch.equal(fix_frames(x, 7), torch.tensor([[0, 1, 2, 3, 4, 4, 4.0]]))
    assert FF.next_pow2(400) == 512 and FF.next_pow2(512) == 512 and FF.next_pow2(1) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_functions_run_on_cuda_like_on_cpu():
    x = chirp(2.0).repeat(3, 1)
    fb = FF.mel_filterbank(SR, 512, 40)
    cpu = FF.spectrogram(x, 512, 160, 400, "hamming", False, False, filterbank=fb)
    gpu = FF.spectrogram(x.cuda(), 512, 160, 400, "hamming", False, False,
                         filterbank=fb.cuda()).cpu()
    assert (gpu - cpu).abs().max() <= 1e-4 * cpu.abs().max()


def test_banded_mel_product_equals_the_dense_one_and_skips_most_of_it():
    """spectrogram's mel energies come from one GEMM per group of bands over only the bins
    those filters touch: the same values as the dense product, with gradients where asked."""
    import librosa

    fb = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True)).float()
    groups = FF._band_groups(fb)
    assert len(groups) > 1 and groups[0][0] == 0 and groups[-1][1] == 40
    assert all(a2 == b1 for (_, b1, _, _), (a2, _, _, _) in zip(groups, groups[1:]))
    work = sum((b - a) * (hi - lo) for a, b, lo, hi in groups)
    assert work < 0.5 * fb.numel()
    for a, b, lo, hi in groups:  # no filter weight is outside its group's bins
        assert fb[a:b, :lo].abs().sum() == 0 and fb[a:b, hi:].abs().sum() == 0
    x = torch.randn(3, 24000, generator=torch.Generator().manual_seed(0))
    dense = torch.matmul(fb, FF.spectrogram(x, 512, 160, 400))
    banded = FF.spectrogram(x, 512, 160, 400, filterbank=fb)
    torch.testing.assert_close(banded, dense, rtol=1e-5, atol=1e-4)
    xg = x.clone().requires_grad_()
    FF.spectrogram(xg, 512, 160, 400, filterbank=fb).sum().backward()
    assert xg.grad is not None and bool(xg.grad.abs().sum() > 0)
    trained = fb.clone().requires_grad_()  # a learnt filterbank: no plan (graph) is kept
    for _ in range(2):
        FF.spectrogram(x, 512, 160, 400, filterbank=trained).sum().backward()
    assert trained.grad is not None and bool(trained.grad.abs().sum() > 0)
