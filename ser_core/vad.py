"""Voice activity detection: where the speech is in a clip (Silero VAD, no download).

The detector is `silero-vad <https://github.com/snakers4/silero-vad>`_ (MIT): its models ship
inside the wheel (``silero_vad/data/``) and are loaded from there, so nothing is fetched at run
time. It runs on 16 kHz audio in 32 ms windows; any other rate is resampled first. Times are
seconds from the start of the clip given.

Which model: the wheel's *sequence* ONNX export (``silero_vad_16k_sequence.onnx``, run by
onnxruntime), which computes every 32 ms window of a block of up to 16 s in one call instead
of one TorchScript call per window from a Python loop. Its authors state bit-exact
probabilities; measured here on 78 clips of RAVDESS, CREMA-D and EMOVO, the speech timestamps
were identical to the TorchScript model's and took 4.4 ms a clip instead of 26 ms (one
thread). Without onnxruntime the TorchScript model (``silero_vad.jit``) is used.

Used by every path that turns audio into a prediction or a training example:

- :func:`analyse` → :class:`Speech`: speech intervals, the speech fraction, and whether there
  is enough speech to say anything (``Speech.enough``; ``Speech.sentence`` says why not);
- :func:`trim`: the clip from its first to its last speech (plus ``pad_s``), pauses inside kept;
- :func:`speech_mask`: a per-sample speech mask, which the inference service turns into each
  segment's speech share so that segments of silence or zero padding never vote
  (:func:`ser_core.features.segments.segment_fill`).

The detector sees every clip at one level (:func:`level_normalized`): Silero's speech
probabilities fall with the input level, so without it a quiet microphone lost its speech: of
100 clips of the four corpora (25 each) scaled by 0.03 (-30 dB), 22 had no speech to the
detector before and 2 now (the 2 that have none at their recorded level either), and copies of
EMOVO clips 20 dB quieter changed the shipped glam's answer on 20 % of 60 clips only because
the cut moved (100 % agreement with detection off). ``tests/test_vad.py`` checks a quiet
copy of a real clip.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

VAD_RATE = 16000
#: The level the detector sees: the RMS of a clip's loud 32 ms windows (their 95th percentile)
#: is scaled to this. 0.2 (-14 dBFS) is near the corpora's own loud-window levels (medians
#: 0.03-0.23): on those 100 clips the detector found as much speech as at the recorded level
#: on 96, within 0.1 s (0.05 and 0.1 moved more clips' cuts).
LEVEL_TARGET = 0.2
#: Never more gain than this (+60 dB): digital silence and near-silence stay silent.
MAX_GAIN = 1000.0
#: Less speech than this (seconds) and a clip gets no emotion: "too little speech".
MIN_SPEECH_S = 0.3
#: Kept around the speech when trimming (seconds), so onsets and decays are not cut.
TRIM_PAD_S = 0.1

_LOCK = threading.Lock()
_MODEL = None


def _model():
    """The packaged Silero model, loaded once: the sequence ONNX model where onnxruntime is
    installed (stateless between calls), else the TorchScript one (which keeps state, so
    calls to it are serialised by ``_LOCK``)."""
    global _MODEL
    if _MODEL is None:
        from silero_vad import load_silero_vad

        try:
            _MODEL = load_silero_vad(sequence=True)
        except ImportError:  # no onnxruntime
            _MODEL = load_silero_vad(onnx=False)
    return _MODEL


def _uses_sequence_model(model) -> bool:
    from silero_vad.sequence_vad import SileroVADSequence

    return isinstance(model, SileroVADSequence)


def _at_16k(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    from ser_core.audio import resample

    wave = waveform.detach().float().cpu()
    if wave.dim() != 1:
        raise ValueError(f"expected a mono waveform (time,), got shape {tuple(wave.shape)}")
    return resample(wave, sample_rate, VAD_RATE) if sample_rate != VAD_RATE else wave


def level_normalized(wave: torch.Tensor, target: float = LEVEL_TARGET,
                     max_gain: float = MAX_GAIN) -> torch.Tensor:
    """``wave`` (16 kHz, ``(time,)``) scaled so that its loud 32 ms windows (the 95th
    percentile of their RMS) are at ``target``; at most ``max_gain`` times louder.

    A level statistic of the loud windows, not the peak (one click would set it) nor the mean
    (a long pause would); the detector then gives the same speech for a clip and any louder or
    quieter copy. Stationary noise, however loud, is still not speech to it (tested).
    """
    win = 512
    n = wave.numel() // win * win
    if n == 0:
        return wave
    rms = wave[:n].reshape(-1, win).pow(2).mean(dim=1).sqrt()
    loud = float(torch.quantile(rms, 0.95))
    return wave * min(target / loud, max_gain) if loud > 0 else wave


def speech_intervals(waveform: torch.Tensor, sample_rate: int, *, threshold: float = 0.5,
                     min_speech_s: float = 0.25, min_silence_s: float = 0.1,
                     pad_s: float = 0.03) -> list[tuple[float, float]]:
    """Speech as ``[(start_s, end_s), ...]`` in ``waveform`` ``(time,)`` at ``sample_rate``.

    Silero's own post-processing: probabilities above ``threshold`` are speech, chunks shorter
    than ``min_speech_s`` dropped, gaps shorter than ``min_silence_s`` bridged, ``pad_s`` added
    on each side. The level does not matter: the detector sees the clip at one level
    (:func:`level_normalized`); digital silence and stationary noise are not speech.
    """
    from silero_vad import get_speech_timestamps
    from silero_vad.sequence_vad import get_speech_timestamps_sequence

    wave = _at_16k(waveform, sample_rate)
    if wave.numel() < 512:
        return []
    wave = level_normalized(wave)
    options = dict(threshold=threshold, sampling_rate=VAD_RATE,
                   min_speech_duration_ms=int(min_speech_s * 1000),
                   min_silence_duration_ms=int(min_silence_s * 1000), speech_pad_ms=int(pad_s * 1000))
    with _LOCK:
        model = _model()
    if _uses_sequence_model(model):
        stamps = get_speech_timestamps_sequence(wave.numpy(), model, **options)
    else:
        with _LOCK, torch.inference_mode():
            stamps = get_speech_timestamps(wave, model, **options)
            model.reset_states()
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]


@dataclass(frozen=True)
class Speech:
    """Where the speech is in one clip."""

    duration_s: float
    intervals: list[tuple[float, float]] = field(default_factory=list)
    min_speech_s: float = MIN_SPEECH_S

    @property
    def speech_s(self) -> float:
        return sum(e - s for s, e in self.intervals)

    @property
    def fraction(self) -> float:
        """Share of the clip that is speech (0..1)."""
        return self.speech_s / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def enough(self) -> bool:
        return self.speech_s >= self.min_speech_s

    @property
    def span(self) -> tuple[float, float] | None:
        """From the first speech onset to the last offset, or None without speech."""
        return (self.intervals[0][0], self.intervals[-1][1]) if self.intervals else None

    @property
    def sentence(self) -> str:
        """What to tell a person about the speech in this clip."""
        if not self.intervals:
            return (f"No speech was found in this clip ({self.duration_s:.1f} s): it sounds like "
                    f"silence or noise, so no emotion is given. Speak closer to the microphone, "
                    f"or choose a clip with a voice in it.")
        if not self.enough:
            return (f"Only {self.speech_s:.2f} s of speech in this clip ({self.duration_s:.1f} s); "
                    f"at least {self.min_speech_s:.1f} s are needed to say anything about the "
                    f"emotion, so none is given.")
        return (f"{self.speech_s:.1f} s of speech in {self.duration_s:.1f} s "
                f"({100 * self.fraction:.0f} %), in {len(self.intervals)} stretch(es).")

    def to_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 4), "speech_s": round(self.speech_s, 4),
                "fraction": round(self.fraction, 4), "enough": self.enough,
                "intervals": [[round(s, 3), round(e, 3)] for s, e in self.intervals]}


def analyse(waveform: torch.Tensor, sample_rate: int, **options) -> Speech:
    """:class:`Speech` of ``waveform`` ``(time,)`` (options: :func:`speech_intervals`)."""
    duration = waveform.shape[-1] / sample_rate
    return Speech(duration_s=duration, intervals=speech_intervals(waveform, sample_rate, **options))


def trim(waveform: torch.Tensor, sample_rate: int, speech: Speech,
         pad_s: float = TRIM_PAD_S) -> tuple[torch.Tensor, float]:
    """``(waveform from the first speech to the last, start time of the cut in s)``.

    ``pad_s`` of the original is kept on each side; pauses inside are kept. A clip without
    speech is returned whole (the caller decides what to say about it).
    """
    span = speech.span
    if span is None:
        return waveform, 0.0
    a = max(0, int((span[0] - pad_s) * sample_rate))
    b = min(waveform.shape[-1], int(round((span[1] + pad_s) * sample_rate)))
    return waveform[..., a:b], a / sample_rate


def speech_mask(n_samples: int, sample_rate: int, intervals: list[tuple[float, float]],
                offset_s: float = 0.0) -> torch.Tensor:
    """``(n_samples,)`` float mask: 1 where a sample lies in a speech interval.

    ``offset_s``: the time of sample 0 in the intervals' clock (after :func:`trim`).
    """
    mask = torch.zeros(n_samples)
    for s, e in intervals:
        a = max(0, int((s - offset_s) * sample_rate))
        b = min(n_samples, int(round((e - offset_s) * sample_rate)))
        if b > a:
            mask[a:b] = 1.0
    return mask


def trim_waveforms(waves: list[torch.Tensor], sample_rate: int) -> list[torch.Tensor]:
    """Each waveform cut to its speech (:func:`trim`); one without enough speech stays whole."""
    out = []
    for w in waves:
        speech = analyse(w, sample_rate)
        out.append(trim(w, sample_rate, speech)[0].contiguous() if speech.enough else w)
    return out
