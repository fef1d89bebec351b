"""Live microphone audio: WebRTC frames → mono waveform → a rolling window → predictions.

The Live page receives ``av.AudioFrame`` objects from ``streamlit-webrtc`` (in this project's
tests: packed signed 16-bit, stereo, 48 kHz, 960 samples = 20 ms each). Everything done with
them lives here, in plain functions and small classes that a unit test can drive with
synthetic frames; the page only moves frames from the receiver into :class:`LiveAnalyzer`
and draws what :meth:`LiveAnalyzer.analyze` returns.

Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ser_core import DEFAULT_SAMPLE_RATE


def make_resampler(rate: int = DEFAULT_SAMPLE_RATE):
    """A PyAV resampler to mono float32 at ``rate``. Keep one per stream: it has state."""
    import av

    return av.AudioResampler(format="flt", layout="mono", rate=int(rate))


_SCALE = {"s16": 32768.0, "s16p": 32768.0, "s32": 2147483648.0, "s32p": 2147483648.0,
          "flt": 1.0, "fltp": 1.0, "dbl": 1.0, "dblp": 1.0}


def downmix(frame) -> np.ndarray:
    """One ``av.AudioFrame`` as mono float32 in [-1, 1] at the frame's own rate: the mean of
    its channels (so identical left/right, as a browser sends a mono microphone, is unchanged;
    libswresample's down-mix would add 3 dB and could clip)."""
    name = frame.format.name
    if name not in _SCALE and name not in ("u8", "u8p"):
        raise ValueError(f"unsupported audio sample format {name!r}")
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    x = arr.reshape(channels, -1) if frame.format.is_planar else arr.reshape(-1, channels).T
    x = x.astype(np.float32)
    x = (x - 128.0) / 128.0 if name.startswith("u8") else x / _SCALE[name]
    return x.mean(axis=0)


def frames_to_mono(frames: Iterable, resampler) -> np.ndarray:
    """Down-mix (:func:`downmix`) and resample ``av.AudioFrame`` objects to one mono float32
    array at the resampler's rate (:func:`make_resampler`).

    The resampler keeps a few samples of delay between calls, so consecutive calls
    concatenate into a continuous signal.
    """
    import av

    chunks: list[np.ndarray] = []
    for frame in frames:
        mono = av.AudioFrame.from_ndarray(downmix(frame).reshape(1, -1), format="flt", layout="mono")
        mono.sample_rate = frame.sample_rate
        mono.pts = frame.pts
        for out in resampler.resample(mono):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


class RollingBuffer:
    """The last ``seconds`` of a mono signal at ``sample_rate``; thread-safe.

    ``extend`` appends samples (dropping the oldest beyond capacity); ``latest(s)`` returns
    a copy of the newest ``s`` seconds (fewer if not yet available).
    """

    def __init__(self, seconds: float, sample_rate: int = DEFAULT_SAMPLE_RATE) -> None:
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self.sample_rate = int(sample_rate)
        self.capacity = int(round(seconds * sample_rate))
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._filled = 0
        self._end = 0  # index one past the newest sample
        self._total = 0
        self._lock = threading.Lock()

    def extend(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return
        with self._lock:
            self._total += x.size
            if x.size >= self.capacity:
                self._data[:] = x[-self.capacity:]
                self._end, self._filled = 0, self.capacity
                return
            first = min(x.size, self.capacity - self._end)
            self._data[self._end:self._end + first] = x[:first]
            rest = x.size - first
            if rest:
                self._data[:rest] = x[first:]
            self._end = (self._end + x.size) % self.capacity
            self._filled = min(self.capacity, self._filled + x.size)

    def latest(self, seconds: float | None = None) -> np.ndarray:
        with self._lock:
            n = self._filled if seconds is None else min(self._filled,
                                                        int(round(seconds * self.sample_rate)))
            if n == 0:
                return np.zeros(0, dtype=np.float32)
            start = (self._end - n) % self.capacity
            if start + n <= self.capacity:
                return self._data[start:start + n].copy()
            return np.concatenate([self._data[start:], self._data[:self._end]])

    @property
    def seconds_available(self) -> float:
        return self._filled / self.sample_rate

    @property
    def total_seconds(self) -> float:
        """Seconds received since creation (not only what is still held)."""
        return self._total / self.sample_rate

    def clear(self) -> None:
        with self._lock:
            self._filled = self._end = self._total = 0


def level_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else float("-inf")


def window_log_mel(x: np.ndarray, sample_rate: int, n_mels: int = 40) -> torch.Tensor:
    """Log-mel ``(n_mels, frames)`` of a window for the live picture (seed 000's chain:
    z-score, pre-emphasis, 25 ms Hamming / 10 ms, natural log), from ``ser_core.features``."""
    from ser_core.features.pipeline import extract

    return extract("logmel", torch.from_numpy(np.ascontiguousarray(x)), sample_rate, n_mels=n_mels)[0]


@dataclass
class LiveUpdate:
    """One refresh of the Live page."""

    at_s: float                      # stream time of the window's end, seconds
    window: np.ndarray               # the analysed samples (mono float32)
    sample_rate: int
    level_dbfs: float
    prediction: object | None        # ser_core.inference.ClipPrediction, None when too quiet/short
    log_mel: torch.Tensor | None     # (n_mels, frames) of the window, for the live picture
    reason: str = ""                 # why there is no prediction, as a sentence
    recheck: bool = False            # a look between two updates that found too little speech
                                     # yet: nothing new to draw (see LiveAnalyzer.analyze)


ONSET_MIN_GAP_S = 0.1  # at most ten onset-triggered analyses a second


class LiveAnalyzer:
    """Rolling-window emotion recognition over a live stream.

    ``feed(frames)`` converts and stores frames; ``due()`` says whether ``interval_s`` has
    passed since the last analysis; ``analyze()`` predicts on the newest ``window_s`` seconds
    with every model of ``service`` (a :class:`ser_core.inference.InferenceService`) and
    returns a :class:`LiveUpdate`. Windows quieter than ``min_level_dbfs`` are not classified
    (the models would only describe background noise).
    """

    def __init__(self, service, window_s: float = 3.0, interval_s: float = 1.0,
                 sample_rate: int = DEFAULT_SAMPLE_RATE, min_window_s: float = 0.5,
                 min_level_dbfs: float = -55.0, history_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.window_s = float(window_s)
        self.interval_s = float(interval_s)
        self.sample_rate = int(sample_rate)
        self.min_window_s = float(min_window_s)
        self.min_level_dbfs = float(min_level_dbfs)
        self.buffer = RollingBuffer(max(history_s, window_s), sample_rate)
        self._resampler = make_resampler(sample_rate)
        self._clock = clock
        self._last = -math.inf
        self._last_full = -math.inf  # the last analysis that was not a recheck
        self._quiet = True    # the last analysis had nothing to classify
        self._onset = False   # sound arrived since: analyse without waiting for the interval
        self.history: list[tuple[float, str, float]] = []  # (stream time, consensus top, its prob)
        self.reference = None  # "my voice" (ser_core.reference.SpeakerReference), when set

    def feed(self, frames: Sequence) -> int:
        """Add ``av.AudioFrame``s to the buffer; returns how many samples were added."""
        x = frames_to_mono(frames, self._resampler)
        self.feed_samples(x)
        return int(x.size)

    def feed_samples(self, samples: np.ndarray) -> None:
        """Add already-converted mono samples at ``sample_rate`` (tests, file playback)."""
        self.buffer.extend(samples)
        if self._quiet and self.buffer.seconds_available >= self.min_window_s \
                and level_dbfs(np.asarray(samples, dtype=np.float32)) >= self.min_level_dbfs:
            self._onset = True

    def due(self) -> bool:
        """An analysis is due every ``interval_s``, and at once when sound starts after a
        window with nothing to classify (so the first answer does not wait for the interval:
        measured with ``scripts/measure_live.py``)."""
        waited = self._clock() - self._last
        return waited >= self.interval_s or (self._onset and waited >= ONSET_MIN_GAP_S)

    def analyze(self) -> LiveUpdate:
        """Analyse the newest window.

        Voice activity detection comes first, and the models run only when the window holds
        enough speech. A window with sound but too little speech yet (the first tenth of a
        second of a sentence) re-arms the onset trigger, so the window is looked at again
        about every :data:`ONSET_MIN_GAP_S` as the speech goes on, and the first answer comes
        once there is enough speech, not at the next interval: with the 1 s interval that
        took the Live page's first answer from 1.4 s after the sound's onset to well under
        a second (``scripts/measure_live.py``). Such a look between two interval updates is a
        ``recheck`` that :func:`pump` does not hand to the page.
        """
        from ser_core.audio import Audio

        now = self._clock()
        recheck = now - self._last_full < self.interval_s
        self._last, self._onset = now, False
        x = self.buffer.latest(self.window_s)
        at = self.buffer.total_seconds
        level = level_dbfs(x)
        log_mel = window_log_mel(x, self.sample_rate) if x.size >= self.sample_rate // 20 else None
        self._quiet = x.size < self.min_window_s * self.sample_rate or level < self.min_level_dbfs
        if self._quiet or not recheck:  # an update the page shows
            self._last_full = now
        if x.size < self.min_window_s * self.sample_rate:
            return LiveUpdate(at, x, self.sample_rate, level, None, log_mel,
                              "Listening… (need a little more audio)")
        if level < self.min_level_dbfs:
            return LiveUpdate(at, x, self.sample_rate, level, None, log_mel,
                              f"Too quiet ({level:.0f} dBFS): speak up or move closer.")
        audio = Audio(waveform=torch.from_numpy(x), sample_rate=self.sample_rate,
                      original_sample_rate=self.sample_rate, original_channels=1, name="live")
        speech = self.service.speech_of(audio) if len(self.service) else None  # None: VAD off
        if speech is not None and not speech.enough:   # voice activity detection
            self._quiet = True  # look again as soon as more sound arrives
            return LiveUpdate(at, x, self.sample_rate, level, None, log_mel, speech.sentence,
                              recheck=recheck)
        self._last_full = now
        extra = {"reference": self.reference} if self.reference is not None else {}
        if speech is not None:
            extra["speech"] = speech
        pred = self.service.predict(audio, **extra) if len(self.service) else None
        if pred is not None and pred.consensus is not None:
            self.history.append((at, pred.consensus.top, pred.consensus.top_prob))
            del self.history[:-120]
        return LiveUpdate(at, x, self.sample_rate, level, pred, log_mel,
                          "" if pred is not None else "No models installed.")


def pump(receiver_get: Callable[[float], list], analyzer: LiveAnalyzer, is_playing: Callable[[], bool],
         timeout_s: float = 1.0) -> Iterator[LiveUpdate]:
    """The Live page's loop, without Streamlit: yield an update about every ``interval_s``.

    ``receiver_get(timeout)`` returns a list of frames or raises :class:`queue.Empty`
    (``streamlit-webrtc``'s ``audio_receiver.get_frames``). The loop ends when ``is_playing()``
    turns false, when the receiver disappears (raises ``AttributeError``) or when no frame
    arrives for ``timeout_s`` — a stopped stream must never leave the page spinning.
    """
    while is_playing():
        try:
            frames = receiver_get(timeout_s)
        except (queue.Empty, AttributeError):
            return
        analyzer.feed(frames)
        if analyzer.due():
            update = analyzer.analyze()
            if not update.recheck:
                yield update
