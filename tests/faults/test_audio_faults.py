"""Fault injection into the audio layer: a decompression bomb, lying headers, NaN deep in a
file, broken uploads; and the block decoder gives the samples the whole-file decoder gave."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from ser_core.audio import AudioLimits, inspect, load_audio
from ser_core.errors import AudioError, ConfigError
from tests.conftest import tone


def write_bomb(path, seconds=599, channels=8, rate=192_000):
    """Silence as FLAC: ~1 MB on disk, seconds x channels x rate samples when decoded."""
    block = rate * 20
    zeros = np.zeros((block, channels), dtype=np.int16)
    with sf.SoundFile(path, "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, seconds * rate, block):
            f.write(zeros[:min(block, seconds * rate - start)])
    return path


@pytest.mark.slow
def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    bomb = write_bomb(tmp_path / "bomb.flac")
    assert bomb.stat().st_size < 5_000_000

    def no_decoding(*a, **k):
        raise AssertionError("the bomb was opened for decoding")

    monkeypatch.setattr(sf.SoundFile, "blocks", no_decoding)  # the header is all it reads
    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    for source in (bomb, bomb.read_bytes()):
        with pytest.raises(AudioError, match=r"would decode to 920 million samples .*8 channels x 192 kHz"):
            load_audio(source)
    with pytest.raises(AudioError, match="Mix it down"):
        inspect(bomb)


def _old_decode(data: bytes, target_sr: int) -> np.ndarray:
    """The decoder before block decoding: everything at once, then mix down, then resample."""
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = torch.from_numpy(np.ascontiguousarray(x.mean(axis=1)))
    return (AF.resample(mono, sr, target_sr) if sr != target_sr else mono).numpy()


@pytest.mark.parametrize("rate,channels,seconds", [(44100, 2, 7.3), (48000, 8, 3.1), (22050, 1, 9.0),
                                                   (8000, 1, 5.0), (16000, 2, 4.2), (192000, 2, 2.0)])
def test_block_decoder_gives_the_same_samples(rate, channels, seconds):
    rng = np.random.default_rng(rate)
    x = np.stack([tone(150 + 40 * c, seconds, rate) + 0.01 * rng.standard_normal(int(seconds * rate))
                  .astype(np.float32) for c in range(channels)], axis=1)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="FLOAT")
    data = buf.getvalue()
    new = load_audio(data, target_sr=16000)
    old = _old_decode(data, 16000)
    assert new.waveform.shape[0] == old.shape[0]
    np.testing.assert_allclose(new.waveform.numpy(), old, atol=2e-6, rtol=0)
    native = load_audio(data, target_sr=None)
    np.testing.assert_array_equal(native.waveform.numpy(), _old_decode(data, rate))


@pytest.mark.parametrize("orig,new", [(44100, 16000), (48000, 16000), (192000, 16000),
                                      (8000, 16000), (11025, 16000), (16000, 22050)])
@pytest.mark.parametrize("defer", [0, 100_000, 1 << 22])
def test_block_resampler_streams_the_same_samples(orig, new, defer):
    from ser_core.audio_blocks import BLOCK, BlockResampler

    x = np.random.default_rng(orig).standard_normal(3 * BLOCK + 17).astype(np.float32)
    want = AF.resample(torch.from_numpy(x), orig, new).numpy()
    r = BlockResampler(orig, new, defer=defer)
    got = np.concatenate([r.feed(x[i:i + BLOCK]) for i in range(0, len(x), BLOCK)] + [r.flush()])
    assert got.shape == want.shape
    if defer >= len(x):
        np.testing.assert_array_equal(got, want)  # resampled whole: bit for bit
    else:
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_nan_in_a_late_block_is_found(tmp_path):
    x = tone(200, 6.0, 16000)
    x[5 * 16000 + 3] = np.nan  # well past the first block
    path = tmp_path / "late_nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path)


def test_a_file_longer_than_its_header_says_is_stopped():
    limits = AudioLimits(max_duration_s=2.0)
    buf = io.BytesIO()
    sf.write(buf, tone(200, 1.5, 16000), 16000, format="WAV")
    assert load_audio(buf.getvalue(), limits=limits).duration_s == pytest.approx(1.5)
    buf = io.BytesIO()
    sf.write(buf, tone(200, 2.5, 16000), 16000, format="WAV")
    with pytest.raises(AudioError, match="limit is 0.0333333 min|min long"):
        load_audio(buf.getvalue(), limits=limits)


@pytest.mark.parametrize("data", [b"not audio at all" * 10, b"RIFF\x00\x00\x00\x00WAVEfmt ", b"fLaC" + bytes(60)])
def test_upload_errors_name_the_file_and_read_as_one_sentence(data):
    from ui.state import make_clip

    with pytest.raises(AudioError) as info:
        make_clip(data, "my clip.wav", "upload")
    text = str(info.value)
    assert "my clip.wav" in text and "BytesIO" not in text and "<_io" not in text, text
    assert ".." not in text and text.endswith("."), text


@pytest.mark.parametrize("rate", [-5, 0.5, 10**9, 44100.5])
def test_target_rate_is_bounded(rate):
    with pytest.raises(ConfigError, match="sample rate must be a whole number"):
        load_audio(b"x" * 100, target_sr=rate)
