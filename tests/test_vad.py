"""Voice activity detection on real speech, on the same speech padded with silence / low noise,
and on silence; segments of padding or silence never vote."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_core import vad
from ser_core.audio import Audio
from ser_core.features.segments import aggregate_posteriors, segment_fill, voting_segments

CLIP = "AudioWAV/1001_DFA_ANG_XX.flac"


def test_pure_silence_and_low_noise_have_no_speech():
    for wave in (torch.zeros(3 * 16000), 1e-3 * torch.randn(3 * 16000, generator=torch.Generator().manual_seed(0))):
        speech = vad.analyse(wave, 16000)
        assert speech.intervals == [] and not speech.enough and speech.fraction == 0
        assert "No speech was found" in speech.sentence and "no emotion is given" in speech.sentence
        trimmed, start = vad.trim(wave, 16000, speech)
        assert trimmed.shape == wave.shape and start == 0.0


def test_loud_stationary_noise_is_not_speech():
    """The detector sees every clip at one level, so noise is scaled up too: it must stay noise."""
    g = torch.Generator().manual_seed(0)
    white = 0.3 * torch.randn(3 * 16000, generator=g)
    brown = torch.cumsum(torch.randn(3 * 16000, generator=g), 0)
    hum = 0.3 * torch.sin(2 * np.pi * 100 * torch.arange(3 * 16000) / 16000)
    for wave in (white, (brown - brown.mean()) / brown.std() * 0.3, hum):
        assert vad.analyse(wave, 16000).intervals == []


def test_level_normalized_scales_loud_windows_to_the_target():
    g = torch.Generator().manual_seed(0)
    n = 32 * 512  # a quiet then a loud half, 32 windows each
    wave = torch.cat([0.01 * torch.randn(n, generator=g), 0.05 * torch.randn(n, generator=g)])
    for gain in (1.0, 0.01, 30.0):
        out = vad.level_normalized(wave * gain)
        loud = out[n:].reshape(-1, 512).pow(2).mean(1).sqrt()
        assert float(loud.median()) == pytest.approx(vad.LEVEL_TARGET, rel=0.1)
    assert torch.equal(vad.level_normalized(torch.zeros(4000)), torch.zeros(4000))
    tiny = torch.full((4000,), 1e-9)  # never more than MAX_GAIN: near-silence stays near-silent
    assert vad.level_normalized(tiny).abs().max() == pytest.approx(1e-9 * vad.MAX_GAIN)


def test_too_little_speech_sentence():
    s = vad.Speech(duration_s=4.0, intervals=[(1.0, 1.2)])
    assert not s.enough and "Only 0.20 s of speech" in s.sentence


def test_segment_fill_and_voting_drop_padding_segments():
    # 3.2 s at 1 kHz in 3 s segments: the second segment is 0.2 s of audio + 2.8 s of padding
    fill = segment_fill(torch.ones(3200), 1000, 3.0)
    assert fill.tolist() == pytest.approx([1.0, 0.2 / 3])
    keep = voting_segments(fill)
    assert keep.tolist() == [True, False]
    probs = torch.tensor([[0.9, 0.1], [0.0, 1.0]])
    assert aggregate_posteriors(probs, "max", keep).tolist() == pytest.approx([0.9, 0.1])
    assert aggregate_posteriors(probs, "mean").tolist() == pytest.approx([0.45, 0.55])
    # when no segment has enough, the fullest one still votes
    assert voting_segments(torch.tensor([0.1, 0.3, 0.2])).tolist() == [False, True, False]
    mask = vad.speech_mask(1000, 1000, [(0.2, 0.5)], offset_s=0.1)
    assert mask.sum() == 300 and mask[100] == 1 and mask[99] == 0


@pytest.fixture
def speech_clip(cremad_root):
    import soundfile as sf

    from ser_core.audio import resample

    x, sr = sf.read(str(cremad_root / CLIP), dtype="float32")
    return resample(torch.from_numpy(x), sr, 16000)


def _padded(wave: torch.Tensor, kind: str) -> torch.Tensor:
    pad = 2 * 16000
    if kind == "silence":
        side = torch.zeros(pad)
    else:  # low noise, -60 dB below full scale
        side = 1e-3 * torch.randn(pad, generator=torch.Generator().manual_seed(1))
    return torch.cat([side, wave, side.flip(0)])


@pytest.mark.corpus
@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_padded_speech_gives_the_same_intervals_shifted(speech_clip, kind):
    base = vad.analyse(speech_clip, 16000)
    assert base.enough and 0.3 < base.fraction < 1.0
    padded = vad.analyse(_padded(speech_clip, kind), 16000)
    assert len(padded.intervals) == len(base.intervals)
    for (s0, e0), (s1, e1) in zip(base.intervals, padded.intervals):
        assert s1 == pytest.approx(s0 + 2.0, abs=0.05) and e1 == pytest.approx(e0 + 2.0, abs=0.05)
    trimmed, start = vad.trim(_padded(speech_clip, kind), 16000, padded)
    span = padded.span[1] - padded.span[0]
    assert trimmed.shape[0] / 16000 == pytest.approx(span + 2 * vad.TRIM_PAD_S, abs=0.01)
    assert span == pytest.approx(base.span[1] - base.span[0], abs=0.1)
    assert start == pytest.approx(padded.span[0] - vad.TRIM_PAD_S, abs=0.01)


@pytest.mark.corpus
@pytest.mark.parametrize("gain", [0.03, 0.1, 4.0])
def test_a_quieter_or_louder_copy_has_the_same_speech(speech_clip, gain):
    """Silero's probabilities fall with the level; the detector's input is level-normalised,
    so a copy 30 dB quieter (where the raw detector finds no speech in this clip) or 12 dB
    louder is cut exactly like the original."""
    base = vad.analyse(speech_clip, 16000)
    assert base.enough
    copy = vad.analyse(speech_clip * gain, 16000)
    assert copy.intervals == pytest.approx(base.intervals, abs=0.002)


@pytest.mark.corpus
def test_padded_speech_gets_the_same_prediction(speech_clip):
    from ser_core.inference import InferenceService, checkpoints_dir

    ckpts = [checkpoints_dir() / n for n in ("glam", "acrnn_small")]
    if not all((c / "config.json").is_file() for c in ckpts):
        pytest.skip("needs the shipped glam and acrnn_small checkpoints")
    svc = InferenceService.from_paths(ckpts, device="cpu")
    clip = Audio(speech_clip, 16000, 16000, 1, "clip")
    got = {kind: svc.predict(Audio(_padded(speech_clip, kind), 16000, 16000, 1, kind))
           for kind in ("silence", "noise")}
    ref = svc.predict(clip)
    for pred in got.values():
        assert pred.consensus.top == ref.consensus.top
        assert np.abs(np.array(pred.consensus.probs) - np.array(ref.consensus.probs)).max() < 0.1
        # the timeline stays in the padded clip's time: it starts where the speech starts
        onset = 2.0 + ref.speech.span[0] - vad.TRIM_PAD_S
        assert pred.models[0].segment_starts_s[0] == pytest.approx(onset, abs=0.05)
    silent = svc.predict(Audio(torch.zeros(3 * 16000), 16000, 16000, 1, "silence"))
    assert not silent.enough_speech and "No speech" in silent.speech.sentence
    assert silent.as_dict()["speech"]["enough"] is False


@pytest.mark.corpus
def test_training_trim_cuts_the_padding_of_real_speech(speech_clip):
    padded = _padded(speech_clip, "silence")
    silent = torch.zeros(16000)
    [cut, same] = vad.trim_waveforms([padded, silent], 16000)
    assert cut.shape[0] < speech_clip.shape[0] < padded.shape[0] and torch.equal(same, silent)


@pytest.mark.corpus
@pytest.mark.parametrize("kind", ["speech", "silence", "noise"])
def test_sequence_model_finds_what_the_torchscript_model_finds(speech_clip, kind, monkeypatch):
    """The detector runs silero's sequence ONNX model (one call per 16 s block); its speech
    intervals are those of the TorchScript model (one call per 32 ms window) on real speech,
    padded or not."""
    pytest.importorskip("onnxruntime")
    from silero_vad import load_silero_vad

    wave = speech_clip if kind == "speech" else _padded(speech_clip, kind)
    assert vad._uses_sequence_model(vad._model())
    sequence = vad.speech_intervals(wave, 16000)
    monkeypatch.setattr(vad, "_MODEL", load_silero_vad(onnx=False))
    assert not vad._uses_sequence_model(vad._model())
    torchscript = vad.speech_intervals(wave, 16000)
    assert sequence == torchscript and sequence
