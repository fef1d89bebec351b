"""The audio layer on a generated corpus of bad (and good-but-unusual) inputs.

Every refusal is an :class:`AudioError` whose sentence names the problem; nothing else may
escape for bad input (no traceback reaches a user).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from ser_core.audio import AudioLimits, inspect, load_audio, resample, to_wav_bytes
from ser_core.errors import AudioError, SerError

SR = 16000


def tone(seconds=1.0, sr=SR, freq=220.0, amp=0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(x, sr=SR, subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def with_data_size(data: bytes, size: int) -> bytes:
    """The same WAV with its ``data`` chunk (and RIFF) size fields rewritten."""
    b = bytearray(data)
    i = b.find(b"data")
    b[i + 4:i + 8] = struct.pack("<I", size)
    b[4:8] = struct.pack("<I", min(0xFFFFFFFF, size + i + 8 - 8))
    return bytes(b)


# -- the bad-input corpus: (file name, how to make its bytes, message pattern) -------------------

def _random_bytes():
    return np.random.default_rng(0).bytes(4096)


BAD = [
    ("zero.wav", lambda: b"", r"zero\.wav is empty \(0 bytes\)"),
    ("random.wav", _random_bytes, r"random\.wav is not an audio file this lab can read"),
    ("header_only.wav", lambda: wav_bytes(np.zeros(0, np.float32)),
     r"header_only\.wav contains no audio samples"),
    ("notes.wav", lambda: b"These are my lecture notes, not audio.\n" * 40,
     r"notes\.wav is not an audio file this lab can read"),
    ("notes.txt", lambda: b"plain text\n" * 100, r"notes\.txt is not an audio file"),
    ("one_sample.wav", lambda: wav_bytes(tone()[:1]), r"one_sample\.wav is only 1 sample long; "
                                                       r"at least 250 ms of speech is needed"),
    ("short.wav", lambda: wav_bytes(tone(0.1)), r"short\.wav is only 100 ms long; at least 250 ms"),
    ("silence.wav", lambda: wav_bytes(np.zeros(SR, np.float32)),
     r"silence\.wav is silent \(peak below -80 dBFS\)"),
    ("huge_declared.wav", lambda: with_data_size(wav_bytes(tone()), 0xFFFFFFF0),
     r"huge_declared\.wav is truncated or corrupt: its header declares 37\.3 h of audio but the "
     r"file holds only 1\.00 s"),
    ("truncated.wav", lambda: wav_bytes(tone(2.0))[:20000],
     r"truncated\.wav is truncated or corrupt: its header declares 2\.00 s"),
    ("nan.wav", lambda: wav_bytes(np.where(np.arange(SR) == 100, np.nan, tone()).astype(np.float32),
                                  subtype="FLOAT"),
     r"nan\.wav contains NaN or infinite sample values"),
    ("inf.wav", lambda: wav_bytes(np.where(np.arange(SR) == 7, np.inf, tone()).astype(np.float32),
                                  subtype="FLOAT"),
     r"inf\.wav contains NaN or infinite sample values"),
]


@pytest.mark.parametrize("name,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_file_is_refused_with_its_message(tmp_path, name, make, message):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(AudioError, match=message):
        load_audio(path)


@pytest.mark.parametrize("name,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_bytes_are_refused_the_same_way(name, make, message):
    data = make()
    with pytest.raises(AudioError) as err:
        load_audio(data)
    assert isinstance(err.value, SerError) and str(err.value).endswith(".")
    assert "Traceback" not in str(err.value)


def test_longer_than_the_cap_is_refused_from_the_header_alone(tmp_path, monkeypatch):
    """An 11-minute WAV (sparse file) is refused before any sample is decoded."""
    path = tmp_path / "eleven_minutes.wav"
    n = 11 * 60 * SR
    head = with_data_size(wav_bytes(tone(0.01)), 2 * n)
    head = head[:head.find(b"data") + 8]
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + 2 * n)  # holes, not data: cheap to make

    def no_decoding(*a, **k):
        raise AssertionError("decoded a file the header should have refused")

    monkeypatch.setattr(sf, "read", no_decoding)
    with pytest.raises(AudioError, match=r"eleven_minutes\.wav is 11\.00 min long; the limit is "
                                         r"10 min\. Cut it shorter"):
        load_audio(path)
    with pytest.raises(AudioError, match="11.00 min long"):
        inspect(path)


def test_the_cap_is_configurable(tmp_path):
    path = tmp_path / "two_seconds.wav"
    path.write_bytes(wav_bytes(tone(2.0)))
    with pytest.raises(AudioError, match=r"two_seconds\.wav is 0\.03 min long; the limit is 0\.025 min"):
        load_audio(path, limits=AudioLimits(max_duration_s=1.5))
    with pytest.raises(AudioError, match="at least 3000 ms"):
        load_audio(path, limits=AudioLimits(min_duration_s=3.0))


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        load_audio(tmp_path)


# -- unusual but usable inputs -------------------------------------------------------------------------

@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                         ("PCM_32", 1e-6), ("FLOAT", 1e-7)])
def test_sample_formats_decode_to_the_same_float32_signal(tmp_path, subtype, tol):
    x = tone()
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, x, SR, subtype=subtype)
    audio = load_audio(path)
    assert audio.waveform.dtype == torch.float32 and audio.waveform.shape == (SR,)
    assert np.abs(audio.waveform.numpy() - x).max() <= tol


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_any_rate_is_resampled_to_16k(tmp_path, rate):
    path = tmp_path / f"{rate}.wav"
    sf.write(path, tone(1.0, sr=rate, freq=440.0), rate)
    audio = load_audio(path)
    assert audio.sample_rate == SR and audio.original_sample_rate == rate
    assert abs(audio.waveform.shape[0] - SR) <= 1
    spectrum = np.abs(np.fft.rfft(audio.waveform.numpy()))
    assert abs(int(spectrum.argmax()) * SR / audio.waveform.shape[0] - 440) < 2
    native = load_audio(path, target_sr=None)
    assert native.sample_rate == rate


def test_six_channels_and_stereo_are_mixed_down(tmp_path):
    x = tone()
    six = tmp_path / "six.wav"
    sf.write(six, np.stack([x * (k + 1) / 6 for k in range(6)], axis=1), SR)
    audio = load_audio(six)
    assert audio.original_channels == 6 and audio.waveform.dim() == 1
    assert np.allclose(audio.waveform.numpy(), x * 3.5 / 6, atol=1e-3)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, -0.5 * x], axis=1), SR)
    assert np.allclose(load_audio(stereo).waveform.numpy(), 0.25 * x, atol=1e-3)


def test_opposite_channels_cancel_to_silence_and_say_so(tmp_path):
    x = tone()
    path = tmp_path / "cancel.wav"
    sf.write(path, np.stack([x, -x], axis=1), SR)
    with pytest.raises(AudioError, match="is silent"):
        load_audio(path)


@pytest.mark.parametrize("fmt,subtype,ext,tol", [("FLAC", "PCM_16", "flac", 1e-4),
                                                 ("OGG", "VORBIS", "ogg", 0.05),
                                                 ("OGG", "OPUS", "opus", None),
                                                 ("MP3", "MPEG_LAYER_III", "mp3", None)])
def test_compressed_formats_decode(tmp_path, fmt, subtype, ext, tol):
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    rate = 48000 if subtype == "OPUS" else SR
    path = tmp_path / f"clip.{ext}"
    sf.write(path, tone(1.0, sr=rate), rate, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.sample_rate == SR and 0.9 * SR <= audio.waveform.shape[0] <= 1.1 * SR
    assert audio.waveform.abs().max() > 0.1
    if tol is not None:
        assert np.abs(audio.waveform.numpy() - tone()).max() <= tol


def test_sources_path_bytes_and_file_objects_agree(tmp_path):
    data = wav_bytes(tone())
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    a = load_audio(path)
    b = load_audio(data)
    c = load_audio(io.BytesIO(data))
    assert a.name == "a.wav"
    assert torch.equal(a.waveform, b.waveform) and torch.equal(a.waveform, c.waveform)


def test_wav_round_trip_and_resample_helpers():
    x = torch.from_numpy(tone())
    back = load_audio(to_wav_bytes(x, SR))
    assert torch.allclose(back.waveform, x, atol=1e-4)
    assert resample(x, SR, SR) is x
    assert resample(x, SR, 8000).shape == (8000,)


def test_header_inspection_does_not_decode(tmp_path):
    path = tmp_path / "h.wav"
    path.write_bytes(wav_bytes(tone(1.5)))
    info = inspect(path)
    assert info.samplerate == SR and info.frames == int(1.5 * SR)
