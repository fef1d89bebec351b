"""Live page plumbing without a browser: synthetic ``av.AudioFrame``s as streamlit-webrtc
delivers them (s16 packed, stereo, 48 kHz, 960 samples = 20 ms)."""

from __future__ import annotations

import queue

import av
import numpy as np
import pytest

from ser_core.live import (LiveAnalyzer, RollingBuffer, frames_to_mono, level_dbfs, make_resampler,
                           pump)


def webrtc_frames(signal_48k: np.ndarray, right: np.ndarray | None = None, size: int = 960):
    """Cut a float signal into s16 stereo 48 kHz frames like Chromium's WebRTC track."""
    right = signal_48k if right is None else right
    pcm = np.stack([signal_48k, right], axis=1)
    pcm = np.clip(pcm * 32767, -32768, 32767).astype(np.int16)
    frames = []
    for i in range(0, len(pcm) - size + 1, size):
        f = av.AudioFrame.from_ndarray(pcm[i:i + size].reshape(1, -1), format="s16", layout="stereo")
        f.sample_rate = 48000
        f.pts = i
        frames.append(f)
    return frames


def sine(freq: float, seconds: float, sr: int = 48000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def test_frames_downmixed_and_resampled_to_16k_mono():
    frames = webrtc_frames(sine(440, 1.0), right=sine(440, 1.0) * 0.0)
    assert frames[0].samples == 960 and frames[0].layout.name == "stereo"
    x = frames_to_mono(frames, make_resampler(16000))
    assert x.dtype == np.float32
    assert abs(len(x) - 16000) < 200  # the resampler holds back a few samples
    spectrum = np.abs(np.fft.rfft(x[1000:9000]))
    peak_hz = np.argmax(spectrum) * 16000 / 8000
    assert abs(peak_hz - 440) < 4
    # left 0.5 amplitude, right silent: the mono mix is the mean, 0.25
    assert 0.24 < np.abs(x[2000:]).max() < 0.26
    same = frames_to_mono(webrtc_frames(sine(440, 0.5, amp=0.9)), make_resampler(16000))
    assert 0.88 < np.abs(same[1000:]).max() < 0.92  # identical channels: unchanged, no clipping


def test_rolling_buffer_keeps_the_newest_samples():
    buf = RollingBuffer(1.0, sample_rate=10)
    buf.extend(np.arange(7))
    np.testing.assert_array_equal(buf.latest(), np.arange(7))
    buf.extend(np.arange(7, 15))
    np.testing.assert_array_equal(buf.latest(), np.arange(5, 15))
    np.testing.assert_array_equal(buf.latest(0.3), [12, 13, 14])
    buf.extend(np.arange(100, 125))
    np.testing.assert_array_equal(buf.latest(), np.arange(115, 125))
    assert buf.total_seconds == pytest.approx(4.0) and buf.seconds_available == 1.0
    buf.clear()
    assert buf.latest().size == 0


def test_level():
    assert level_dbfs(np.zeros(10)) == float("-inf")
    assert level_dbfs(np.full(10, 0.5)) == pytest.approx(-6.02, abs=0.01)


class FakeService:
    """Counts predictions; the real service is exercised in test_inference."""

    def __init__(self):
        self.calls = []

    def __len__(self):
        return 1

    def speech_of(self, audio):
        return None  # as the service with voice activity detection off

    def predict(self, audio):
        from ser_core.inference import ClipPrediction, ModelPrediction, consensus_of

        self.calls.append(audio)
        m = ModelPrediction("m", "m", "x", ["a", "b"], [0.25, 0.75], [[0.25, 0.75]], [0.0], 3.0, "mean", 0.0)
        return ClipPrediction("live", audio.duration_s, audio.sample_rate, [m], consensus_of([m]))


def test_analyzer_window_interval_and_quiet_windows():
    now = [0.0]
    svc = FakeService()
    an = LiveAnalyzer(svc, window_s=2.0, interval_s=1.0, clock=lambda: now[0])
    an.feed(webrtc_frames(sine(200, 0.2)))
    first = an.analyze()
    assert first.prediction is None and "more audio" in first.reason
    an.feed(webrtc_frames(sine(200, 3.0)))
    assert not an.due()  # analysed at t=0
    now[0] = 1.0
    assert an.due()
    upd = an.analyze()
    assert upd.prediction is not None and upd.prediction.consensus.top == "b"
    assert svc.calls[-1].duration_s == pytest.approx(2.0, abs=0.01)  # the newest window only
    assert upd.log_mel is not None and upd.log_mel.shape[0] == 40
    assert an.history[-1][1] == "b"
    an.feed(webrtc_frames(sine(200, 2.5, amp=1e-5)))  # -100 dBFS: too quiet to classify
    now[0] = 2.0
    quiet = an.analyze()
    assert quiet.prediction is None and "quiet" in quiet.reason.lower()


def test_sound_after_a_quiet_window_is_analysed_without_waiting_for_the_interval():
    now = [0.0]
    svc = FakeService()
    an = LiveAnalyzer(svc, window_s=2.0, interval_s=1.0, clock=lambda: now[0])
    an.feed(webrtc_frames(sine(200, 2.0, amp=1e-5)))
    assert an.analyze().prediction is None and not svc.calls  # too quiet
    now[0] = 0.2
    an.feed(webrtc_frames(sine(200, 0.1, amp=1e-5)))
    assert not an.due()  # still quiet: the interval rules
    an.feed(webrtc_frames(sine(200, 0.3)))
    assert an.due()  # 0.2 s after the last analysis, not 1 s
    assert an.analyze().prediction is not None
    now[0] = 0.5
    an.feed(webrtc_frames(sine(200, 0.3)))
    assert not an.due()  # sound goes on: back to one analysis per interval
    now[0] = 1.2
    assert an.due()


class FakeReceiver:
    def __init__(self, batches):
        self.batches = list(batches)

    def get_frames(self, timeout):
        if not self.batches:
            raise queue.Empty
        return self.batches.pop(0)


def test_pump_yields_updates_and_stops_when_frames_stop():
    now = [0.0]
    an = LiveAnalyzer(FakeService(), window_s=1.0, interval_s=1.0, clock=lambda: now[0])
    frames = webrtc_frames(sine(300, 3.0))
    batches = [frames[i:i + 50] for i in range(0, len(frames), 50)]  # 1 s per batch
    rx = FakeReceiver(batches)

    def get(timeout):
        now[0] += 1.0
        return rx.get_frames(timeout)

    updates = list(pump(get, an, lambda: True, timeout_s=0.01))
    assert len(updates) == 3 and all(u.prediction is not None for u in updates)


def test_pump_stops_when_the_stream_stops_or_the_receiver_disappears():
    an = LiveAnalyzer(FakeService())
    playing = iter([True, True, False])
    rx = FakeReceiver([webrtc_frames(sine(300, 0.1))] * 10)
    assert list(pump(rx.get_frames, an, lambda: next(playing))) != None  # noqa: E711
    assert len(rx.batches) == 8  # two batches read, then not playing

    class Gone:
        audio_receiver = None

    ctx = Gone()
    assert list(pump(lambda t: ctx.audio_receiver.get_frames(timeout=t), an, lambda: True,
                     timeout_s=0.05)) == []


def test_a_loud_window_without_speech_gets_the_vad_sentence_not_an_emotion(tmp_path):
    # a real service (one tiny checkpoint) with voice activity detection: white noise at
    # -20 dBFS passes the level gate but holds no speech
    from ser_core.inference import InferenceService
    from ser_core.testing import make_tiny_checkpoint

    make_tiny_checkpoint(tmp_path / "glam", "glam")
    an = LiveAnalyzer(InferenceService.from_paths([tmp_path], device="cpu"), window_s=2.0)
    noise = 0.1 * np.random.default_rng(0).standard_normal(48000 * 2)
    an.feed(webrtc_frames(noise))
    upd = an.analyze()
    assert upd.level_dbfs > -55 and upd.prediction is None
    assert "No speech was found" in upd.reason and not an.history


@pytest.mark.corpus
def test_first_answer_comes_once_there_is_enough_speech_not_at_the_next_interval(tmp_path, cremad_root):
    """Speech after silence: the window is looked at about every 0.1 s (voice activity
    detection alone, no model runs, nothing handed to the page) until it holds enough speech;
    the models then answer well before the 1 s interval."""
    import soundfile as sf
    import torch

    from ser_core.audio import resample
    from ser_core.inference import InferenceService
    from ser_core.testing import make_tiny_checkpoint

    x, sr = sf.read(str(cremad_root / "AudioWAV/1001_DFA_ANG_XX.flac"), dtype="float32")
    speech = resample(torch.from_numpy(x), sr, 48000).numpy()
    onset = int(np.argmax(np.abs(speech) > 0.05))  # where the voice starts
    speech = speech[onset:]
    make_tiny_checkpoint(tmp_path / "glam", "glam")
    svc = InferenceService.from_paths([tmp_path], device="cpu")
    runs = []
    real_predict = svc.predict
    svc.predict = lambda audio, **kw: runs.append(audio) or real_predict(audio, **kw)
    now = [0.0]
    an = LiveAnalyzer(svc, window_s=3.0, interval_s=1.0, clock=lambda: now[0])
    an.feed(webrtc_frames(np.zeros(48000 * 2)))
    assert an.analyze().prediction is None  # silence
    answered, looks, step = None, [], 0.1
    for i in range(1, 10):  # 0.1 s of speech at a time
        now[0] = 0.05 + i * step
        an.feed(webrtc_frames(speech[int((i - 1) * step * 48000): int(i * step * 48000)]))
        if an.due():
            upd = an.analyze()
            looks.append(upd)
            if upd.prediction is not None:
                answered = i * step
                break
    assert answered is not None and answered <= 0.6, [u.reason for u in looks]
    assert len(runs) == 1  # the models ran once, for the answer
    assert looks[0].recheck and looks[0].prediction is None  # too little speech: not drawn
    assert not looks[-1].recheck
