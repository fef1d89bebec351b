"""The feature-kind registry: configs, shapes, batch consistency, the teaching chain."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ser_core.errors import ConfigError
from ser_core.features import functional as FF
from ser_core.features.chain import FeatureChain, feature_chain
from ser_core.features.configs import ChainConfig, MfccConfig, PreemphasisConfig
from ser_core.features.pipeline import FEATURE_KINDS, describe_kinds, extract, feature_config

SR = 16000


def clip(seconds: float = 3.0, seed: int = 0, sr: int = SR) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    tone = sum(torch.sin(2 * torch.pi * 180 * k * t) / k for k in range(1, 8))
    env = 0.5 * (1 - torch.cos(2 * torch.pi * t / seconds))
    return (0.2 * tone * env + 0.01 * torch.randn(t.shape, generator=g, dtype=torch.float64)).float()


def shapes(out):
    return {k: tuple(v.shape) for k, v in out.items()} if isinstance(out, dict) else tuple(out.shape)


# -- configs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(FEATURE_KINDS))
def test_config_round_trips_through_dict_and_json(kind):
    cfg = feature_config(kind)
    assert dataclasses.is_dataclass(cfg) and isinstance(cfg, FEATURE_KINDS[kind].config_cls)
    assert feature_config(kind, **dataclasses.asdict(cfg)) == cfg
    assert feature_config(kind, **json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.zscore = True  # type: ignore[misc]


def test_seed_defaults():
    c = feature_config("logmel_deltas")  # seed 000 §3.1.1
    assert (c.zscore, c.preemphasis, c.win_length_s, c.hop_s, c.window, c.n_mels, c.mel_scale,
            c.log, c.delta) == (True, 0.97, 0.025, 0.010, "hamming", 40, "htk", "ln", "difference")
    assert c.fft_size(SR) == 512 and c.win_samples(SR) == 400 and c.hop_samples(SR) == 160
    assert feature_config("mfcc").n_mfcc == 40  # seed 000 §3.2.1 (Fig. 22)
    m = feature_config("mfcc_deltas")  # seed 004: 13 + 13 + 13
    assert (m.n_mfcc, m.delta, m.win_length_s) == (13, "regression", 0.025)
    p = feature_config("mel_pair")
    assert p.resolution("short") == (256, 128, 64) and p.resolution("long") == (512, 256, 128)
    assert feature_config("spectral_image").size == 60  # seed 002's best


def test_unknown_kind_and_parameters_are_refused_with_a_sentence():
    with pytest.raises(ConfigError, match="unknown feature kind 'mffc'.*known kinds are"):
        feature_config("mffc")
    with pytest.raises(ConfigError, match="has no parameter\\(s\\) n_mels"):
        feature_config("spectrogram", n_mels=40)


@pytest.mark.parametrize("kind,params,message", [
    ("mfcc", {"n_mfcc": 41}, "n_mfcc \\(41\\) must be between 1 and n_mels \\(40\\)"),
    ("logmel", {"window": "triangle"}, "unknown window"),
    ("delta", {"delta": "spline"}, "delta must be one of"),
    ("delta", {"delta_width": 4}, "odd integer"),
    ("logmel", {"preemphasis": 1.5}, "pre-emphasis coefficient"),
    ("logmel", {"hop_s": 0}, "hop must be positive"),
    ("logmel", {"log": "log2"}, "log must be one of"),
    ("spectral_image", {"source": "cqt"}, "source must be one of"),
])
def test_impossible_values_are_config_errors(kind, params, message):
    with pytest.raises(ConfigError, match=message):
        feature_config(kind, **params)


def test_n_fft_smaller_than_the_window_is_refused_at_extraction():
    with pytest.raises(ConfigError, match="n_fft \\(256\\) must be at least the frame length \\(400"):
        extract("logmel", clip(0.5), SR, n_fft=256)


# -- shapes -----------------------------------------------------------------------------------------

EXPECTED_3S = {
    "waveform": (1, 48000), "preemphasis": (1, 48000), "spectrogram": (1, 257, 298),
    "logmel": (1, 40, 298), "delta": (1, 40, 298), "delta2": (1, 40, 298),
    "logmel_deltas": (3, 40, 298), "mfcc": (1, 40, 298), "mfcc_image": (1, 40, 282),
    "mfcc_deltas": (39, 298), "chroma": (1, 12, 130), "spectral_image": (1, 60, 60),
    "mel_pair": {"mel_short": (1, 64, 376), "mel_long": (1, 128, 188)},
    "dual_level": {"mfcc": (39, 298), "mel_short": (1, 64, 376), "mel_long": (1, 128, 188)},
    "acoustic_functionals": (153,),
}


def test_every_kind_has_an_expected_shape():
    assert set(EXPECTED_3S) == set(FEATURE_KINDS)
    assert {r["name"] for r in describe_kinds()} == set(FEATURE_KINDS)


@pytest.mark.parametrize("kind", list(FEATURE_KINDS))
def test_shapes_and_finiteness_for_a_3s_clip(kind):
    out = extract(kind, clip(), SR)
    assert shapes(out) == EXPECTED_3S[kind]
    for v in (out.values() if isinstance(out, dict) else [out]):
        assert v.dtype == torch.float32 and torch.isfinite(v).all()


@pytest.mark.parametrize("kind", list(FEATURE_KINDS))
def test_batch_equals_single_clips(kind):
    batch = torch.stack([clip(seed=i) * (1 + i) for i in range(3)])
    together = extract(kind, batch, SR)
    for i in range(3):
        alone = extract(kind, batch[i], SR)
        pairs = ([(together[k][i], alone[k]) for k in alone] if isinstance(alone, dict)
                 else [(together[i], alone)])
        for a, b in pairs:
            assert a.shape == b.shape
            scale = b.abs().max().clamp_min(1.0)
            # float32 sums in another order (a threaded batch GEMM splits work differently from
            # a single clip's); the deltas' differences of logs amplify that to ~2e-5 on some
            # CPUs (seen on a 2-thread AMD EPYC), hence 1e-4 and not 1e-5
            assert (a - b).abs().max() <= 1e-4 * scale, kind


def test_long_batches_take_the_blocked_path_with_the_same_values(monkeypatch):
    batch = torch.stack([clip(2.0, seed=i) for i in range(4)])
    ref = extract("logmel_deltas", batch, SR)
    monkeypatch.setattr(FF, "CPU_BLOCK_SAMPLES", 512 * 50)
    assert torch.allclose(extract("logmel_deltas", batch, SR), ref, atol=1e-4)


def test_config_instance_dict_and_params_agree():
    x = clip(1.0)
    cfg = feature_config("mfcc", n_mfcc=13, n_mels=26)
    a = extract("mfcc", x, SR, n_mfcc=13, n_mels=26)
    assert torch.equal(a, extract("mfcc", x, SR, config=cfg))
    assert torch.equal(a, extract("mfcc", x, SR, config=dataclasses.asdict(cfg)))
    assert torch.equal(a, extract("mfcc", x.numpy(), SR, config=cfg))
    # fewer DCT rows: a GEMM of another shape, equal up to float32 summation order
    assert torch.allclose(extract("mfcc", x, SR, config=cfg, n_mfcc=10), a[:, :10], atol=1e-5)
    with pytest.raises(ConfigError, match="needs a MelConfig"):
        extract("logmel", x, SR, config=PreemphasisConfig())


def test_parameters_change_what_they_say():
    x = clip(1.0)
    assert extract("logmel", x, SR, n_mels=64).shape == (1, 64, 98)
    assert extract("logmel", x, SR, hop_s=0.020).shape == (1, 40, 49)
    assert extract("logmel", x, SR, center=True).shape == (1, 40, 101)
    assert extract("spectrogram", x, SR, n_fft=1024).shape == (1, 513, 98)
    assert extract("spectral_image", x, SR, size=30, source="chroma").shape == (1, 30, 30)
    assert extract("spectral_image", x, SR, size=50, source="mfcc").shape == (1, 50, 50)
    pair = extract("mel_pair", x, SR, n_frames_short=300, n_frames_long=150)
    assert shapes(pair) == {"mel_short": (1, 64, 300), "mel_long": (1, 128, 150)}
    pre = extract("preemphasis", x, SR, zscore=False, preemphasis=0.5)[0]
    assert torch.allclose(pre[1:], x[1:] - 0.5 * x[:-1])


def test_channels_of_logmel_deltas_are_the_single_kinds():
    x = clip(2.0)
    three = extract("logmel_deltas", x, SR)
    assert torch.equal(three[0], extract("logmel", x, SR)[0])
    assert torch.equal(three[1], extract("delta", x, SR)[0])
    assert torch.equal(three[2], extract("delta2", x, SR)[0])


def test_dual_level_is_mfcc_deltas_plus_mel_pair():
    x = clip(2.0)
    dual = extract("dual_level", x, SR, n_frames_short=200)
    assert torch.equal(dual["mfcc"], extract("mfcc_deltas", x, SR))
    pair = extract("mel_pair", x, SR, n_frames_short=200)
    assert torch.equal(dual["mel_short"], pair["mel_short"])
    assert torch.equal(dual["mel_long"], pair["mel_long"])
    m = dual["mfcc"]  # 13 static, then their deltas, then accelerations
    assert torch.allclose(m[13:26], FF.deltas(m[:13], 5), atol=1e-5)


def test_waveform_lowpass():
    t = torch.arange(SR, dtype=torch.float64) / SR
    x = (torch.sin(2 * torch.pi * 300 * t) + torch.sin(2 * torch.pi * 7000 * t)).float()
    y = extract("waveform", x, SR, lowpass_hz=5500.0)[0]
    spec = torch.fft.rfft(y).abs()
    assert spec[7000] < 1e-3 * spec[300]


def test_bad_waveform_shapes():
    with pytest.raises(ValueError):
        extract("logmel", torch.zeros(2, 2, 100), SR)
    with pytest.raises(ValueError):
        extract("logmel", torch.zeros(0), SR)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("kind", list(FEATURE_KINDS))
def test_cuda_equals_cpu(kind):
    x = torch.stack([clip(seed=i) for i in range(2)])
    cpu, gpu = extract(kind, x, SR), extract(kind, x.cuda(), SR)
    for a, b in ([(cpu[k], gpu[k]) for k in cpu] if isinstance(cpu, dict) else [(cpu, gpu)]):
        assert b.is_cuda
        assert (a - b.cpu()).abs().max() <= 1e-3 * a.abs().max().clamp_min(1.0)


# -- the teaching chain ------------------------------------------------------------------------------

def test_chain_intermediates_follow_the_seed_equations():
    x = clip(1.0)
    c = feature_chain(x, SR)
    assert isinstance(c, FeatureChain) and c.config == ChainConfig()
    assert (c.win_length, c.hop_length, c.n_fft) == (400, 160, 512)
    z = (x - x.mean()) / (x.std(unbiased=False) + 1e-8)
    assert torch.allclose(c.zscored, z, atol=1e-5)
    assert torch.allclose(c.preemphasized[1:], c.zscored[1:] - 0.97 * c.zscored[:-1], atol=1e-6)
    assert c.frames.shape == (98, 400)
    assert torch.equal(c.frames[7], c.preemphasized[7 * 160: 7 * 160 + 400])
    n = torch.arange(400, dtype=torch.float64)
    assert torch.allclose(c.window.double(), 0.54 - 0.46 * torch.cos(2 * torch.pi * n / 399), atol=1e-6)
    assert torch.equal(c.windowed, c.frames * c.window)
    dft = torch.fft.rfft(c.windowed.double(), n=512).abs().square().T
    assert torch.allclose(c.spectrum.double(), dft, rtol=1e-4, atol=1e-6 * dft.max())
    assert c.filterbank.shape == (40, 257)
    assert torch.allclose(c.mel, c.filterbank @ c.spectrum, rtol=1e-5, atol=1e-6)
    assert torch.allclose(c.log_mel, torch.log(c.mel.clamp_min(1e-10)))
    assert torch.allclose(c.delta[:, 1:], c.log_mel[:, 1:] - c.log_mel[:, :-1])  # eq. 7
    assert torch.allclose(c.delta_delta[:, 1:], c.delta[:, 1:] - c.delta[:, :-1])  # eq. 8
    assert torch.allclose(c.mfcc, FF.mfcc(c.log_mel, 40))
    assert c.mel_band_edges().shape == (42,) and c.fft_frequencies().shape == (257,)
    assert c.frame_times()[0] == pytest.approx(0.0125) and c.frame_start(3) == 480


def test_chain_equals_what_models_get():
    """The app draws exactly what the pipeline feeds the models."""
    x = clip(2.0)
    c = feature_chain(x, SR)
    lmd = extract("logmel_deltas", x, SR, config=feature_config("logmel_deltas"))
    assert torch.allclose(c.log_mel, lmd[0], atol=1e-4)
    assert torch.allclose(c.delta, lmd[1], atol=1e-4)
    assert torch.allclose(c.delta_delta, lmd[2], atol=1e-4)
    assert torch.allclose(c.mfcc, extract("mfcc", x, SR)[0], atol=1e-3)
    assert torch.allclose(c.spectrum, extract("spectrogram", x, SR)[0], rtol=1e-4,
                          atol=1e-6 * c.spectrum.max())
    assert torch.allclose(c.preemphasized, extract("preemphasis", x, SR)[0])


def test_chain_parameters_batches_and_dict():
    x = torch.stack([clip(1.0, seed=i) for i in range(2)])
    c = feature_chain(x, SR, n_mels=64, window="hann", delta="regression", n_mfcc=20)
    assert c.log_mel.shape == (2, 64, 98) and c.mfcc.shape == (2, 20, 98)
    assert c.window.shape == (400,) and c.frames.shape == (2, 98, 400)
    d = c.as_dict()
    assert set(FeatureChain.ARRAYS) <= set(d) and d["config"]["n_mels"] == 64
    c2 = feature_chain(x[0], SR, config=MfccConfig(center=True, n_mels=64, n_mfcc=20,
                                                    window="hann", delta="regression"))
    assert c2.frames.shape == (101, 400) and c2.frame_start(0) == -200
    with pytest.raises(ConfigError):
        feature_chain(x, SR, n_mells=3)


def test_chain_from_numpy():
    c = feature_chain(np.zeros(8000, dtype=np.float64) + 0.1 * np.random.default_rng(0).standard_normal(8000), SR)
    assert c.signal.dtype == torch.float32 and torch.isfinite(c.log_mel).all()


def test_spectral_image_steps_are_what_the_kind_returns():
    from ser_core.features.spectral_images import spectral_image_steps

    x = torch.cat([torch.zeros(500), clip(1.5), torch.zeros(300)])
    for source in ("mel", "chroma", "mfcc"):
        steps = spectral_image_steps(x, SR, source=source, size=40)
        assert steps.trimmed.shape[0] < steps.preemphasized.shape[0]  # zeros trimmed
        assert steps.image.shape == (40, 40)
        assert torch.equal(steps.image, extract("spectral_image", x, SR, source=source, size=40)[0])
    mel = spectral_image_steps(x, SR)
    assert mel.db.max() == 0.0 and mel.db.min() >= -80.0  # dB re max, top_db 80
    assert mel.feature.shape[0] == 128


def test_mel_pair_steps_are_what_the_kind_returns():
    from ser_core.features.mel_pair import mel_pair_steps

    x = clip(2.0)
    steps = mel_pair_steps(x, SR, n_frames_short=100, n_frames_long=77)
    assert steps.sizes == {"short": (256, 128, 64), "long": (512, 256, 128)}
    assert steps.mel["short"].shape == (64, 251) and steps.interpolated["short"].shape == (64, 100)
    assert steps.mel["long"].shape == (128, 126) and steps.log["long"].shape == (128, 77)
    idx = torch.floor(torch.arange(100) * 251 / 100).long()  # nearest neighbour in time
    assert torch.equal(steps.interpolated["short"], steps.mel["short"][:, idx])
    pair = extract("mel_pair", x, SR, n_frames_short=100, n_frames_long=77)
    assert torch.equal(pair["mel_short"][0], steps.log["short"])


@pytest.mark.parametrize("kind", sorted(FEATURE_KINDS))
def test_lowpass_makes_every_kind_blind_above_the_cutoff(kind):
    """With ``lowpass_hz`` a clip and the same clip plus loud energy above the cutoff (what a
    full-band microphone adds to speech a band-limited corpus never had) give the same
    features, for every kind: the filter runs before anything else."""
    t = torch.arange(2 * SR, dtype=torch.float64) / SR
    speechy = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((180, 360, 900, 2500), 1))
    env = 0.5 * (1 - torch.cos(2 * torch.pi * 0.5 * t))
    low = (0.3 * env * speechy).float()
    full = low + (0.2 * torch.sin(2 * torch.pi * 6800 * t) + 0.1 * torch.sin(2 * torch.pi * 7600 * t)).float()
    a = extract(kind, low, SR, lowpass_hz=5500.0)
    b = extract(kind, full, SR, lowpass_hz=5500.0)
    c = extract(kind, full, SR, lowpass_hz=None)  # no filter: the extra band shows
    pairs = [(a[k], b[k], c[k]) for k in a] if isinstance(a, dict) else [(a, b, c)]
    for x, y, z in pairs:
        scale = x.abs().max().clamp_min(1e-6)
        same, unfiltered = (x - y).abs().max() / scale, (x - z).abs().max() / scale
        assert same < 1e-2, kind  # float rounding in near-empty bands, nothing more
        assert unfiltered > 10 * same, kind


@pytest.mark.parametrize("kind", sorted(FEATURE_KINDS))
def test_gain_normalize_makes_every_kind_level_invariant(kind):
    x = clip()
    a = extract(kind, x, SR, gain_normalize=True)
    b = extract(kind, 0.05 * x, SR, gain_normalize=True)
    pairs = [(a[k], b[k]) for k in a] if isinstance(a, dict) else [(a, b)]
    for u, v in pairs:
        assert torch.allclose(u, v, atol=1e-4 * float(u.abs().max().clamp_min(1.0))), kind


def test_shared_features_compute_an_identical_input_once_and_hand_out_copies(monkeypatch):
    """Inside ``shared_features`` (one prediction for several models) an input with the same
    samples and configuration is featurised once, the band limit once per input, and every
    caller gets the same values as without it, in a tensor of its own."""
    from ser_core.features import functional as FF
    from ser_core.features import pipeline as P

    g = torch.Generator().manual_seed(0)
    segs = torch.randn(2, 16000, generator=g)
    plain = P.extract("mfcc", segs, 16000, n_mfcc=13, lowpass_hz=5500)
    plain_mel = P.extract("logmel", segs, 16000, lowpass_hz=5500)
    calls = {"lowpass": 0}
    real_lowpass = FF.lowpass

    def counted(*a, **k):
        calls["lowpass"] += 1
        return real_lowpass(*a, **k)

    monkeypatch.setattr(FF, "lowpass", counted)
    with P.shared_features():
        first = P.extract("mfcc", segs, 16000, n_mfcc=13, lowpass_hz=5500)
        first.zero_()  # a caller may change what it got
        again = P.extract("mfcc", segs.clone(), 16000, n_mfcc=13, lowpass_hz=5500)  # same samples
        mel = P.extract("logmel", segs.clone(), 16000, lowpass_hz=5500)  # same low-pass
        other = P.extract("mfcc", segs + 1e-3, 16000, n_mfcc=13, lowpass_hz=5500)
    assert calls["lowpass"] == 2  # segs, then segs + 1e-3
    assert torch.equal(again, plain) and torch.equal(mel, plain_mel)
    assert not torch.equal(other, plain)
    outside = P.extract("mfcc", segs, 16000, n_mfcc=13, lowpass_hz=5500)
    assert torch.equal(outside, plain) and calls["lowpass"] == 3  # no memo outside the block


def test_log_mel_in_inference_mode_after_the_filterbank_was_cached_there():
    """The mel filterbank is cached; made under ``torch.inference_mode`` it is an inference
    tensor, and the spectrogram's cached GEMM operand must work with it inside and outside."""
    from ser_core.features import functional as FF

    x = clip(1.0)
    FF._mel_cached.cache_clear()
    FF._BANDED.clear()
    with torch.inference_mode():
        inside = extract("logmel", x, SR, n_mels=24)
        again = extract("logmel", x, SR, n_mels=24)
    outside = extract("logmel", x, SR, n_mels=24)
    assert torch.equal(inside, again) and torch.allclose(inside, outside)
