"""Benchmark: log-mel + delta + delta-delta + MFCC, ours (torch) against librosa.

Both sides compute the same thing with the same parameters (16 kHz, ``n_fft`` 512, 25 ms
periodic Hamming window, 10 ms hop, centred frames with zero padding, 40 HTK mel filters
with area normalisation, ``ln(max(mel, 1e-10))``, regression deltas over 5 frames with
replicated edges, delta-delta as the delta of the delta, 40 MFCCs by orthonormal DCT-II):

* ours: ``extract("logmel_deltas", ...)`` then ``functional.mfcc`` (one batched call);
* librosa: ``feature.melspectrogram`` (multichannel input for a batch, librosa's own
  vectorisation), ``np.log``, ``feature.delta(mode="nearest")`` twice, ``feature.mfcc``.

Times are medians over repeats after a warm-up call, input already in memory (on the GPU
for the CUDA rows). The agreement check reports the largest absolute difference per output.
numpy's FFT (librosa) is single-threaded; torch uses ``torch.get_num_threads()`` threads
(``--threads 1`` compares one core with one core). On a machine whose cores are busy with
other work, multi-threaded torch can be much slower than one thread: the load average is
printed with the results.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

SAMPLE_RATE = 16000
PARAMS = dict(n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=40, width=5)
#: absolute tolerances of the agreement check (log-mel in nepers, MFCC in the same units)
TOLERANCES = {"log_mel": 1e-3, "delta": 1e-3, "delta_delta": 1e-3, "mfcc": 5e-3}


def our_config():
    from ser_core.features.configs import DeltaConfig

    return DeltaConfig(zscore=False, preemphasis=0.0, win_length_s=0.025, hop_s=0.010, n_fft=512,
                       window="hamming", periodic_window=True, center=True, pad_mode="constant",
                       n_mels=40, mel_scale="htk", mel_norm="slaney", log="ln", amin=1e-10,
                       delta="regression", delta_width=5)


def ours(x: torch.Tensor, cfg=None) -> dict:
    """``x`` ``(batch, time)`` or ``(time,)`` -> log_mel, delta, delta_delta, mfcc."""
    from ser_core.features import functional as FF
    from ser_core.features.pipeline import extract

    out = extract("logmel_deltas", x, SAMPLE_RATE, config=cfg or our_config())
    lm, d, dd = out.unbind(-3)
    return {"log_mel": lm, "delta": d, "delta_delta": dd, "mfcc": FF.mfcc(lm, PARAMS["n_mfcc"])}


def reference(y: np.ndarray) -> dict:
    """The same with librosa; ``y`` ``(time,)`` or ``(batch, time)``."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=PARAMS["n_fft"], hop_length=PARAMS["hop_length"],
        win_length=PARAMS["win_length"], window="hamming", center=True, pad_mode="constant",
        power=2.0, n_mels=PARAMS["n_mels"], htk=True, norm="slaney")
    lm = np.log(np.maximum(mel, 1e-10))
    d = librosa.feature.delta(lm, width=PARAMS["width"], mode="nearest")
    dd = librosa.feature.delta(d, width=PARAMS["width"], mode="nearest")
    return {"log_mel": lm, "delta": d, "delta_delta": dd,
            "mfcc": librosa.feature.mfcc(S=lm, n_mfcc=PARAMS["n_mfcc"])}


def speech_like_signal(seconds: float, batch: int | None = None, seed: int = 0) -> np.ndarray:
    """Speech-like test audio: harmonics of a gliding pitch, amplitude envelope, noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    rows = []
    for _ in range(batch or 1):
        f0 = rng.uniform(100, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        sig = sum(np.sin(k * phase) / k for k in range(1, 12))
        env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t))
        rows.append(0.2 * sig * env + 0.01 * rng.standard_normal(n))
    y = np.asarray(rows, dtype=np.float32)
    return y[0] if batch is None else y


def speech_like_audio(seconds: float = 3.0):
    """:func:`speech_like_signal` as an :class:`~ser_core.audio.Audio` clip at 16 kHz (what the
    speed benchmarks and the int8 timing run the models on)."""
    from ser_core.audio import Audio

    return Audio(waveform=torch.from_numpy(speech_like_signal(seconds)), sample_rate=SAMPLE_RATE,
                 name=f"speech-like {seconds:g} s", original_sample_rate=SAMPLE_RATE,
                 original_channels=1)


def _timed(fn, sync=None) -> float:
    t0 = time.perf_counter()
    fn()
    if sync:
        sync()
    return time.perf_counter() - t0


@dataclass
class Row:
    device: str
    case: str
    clips: int
    seconds: float
    ours_s: float
    librosa_s: float

    @property
    def ratio(self) -> float:
        return self.librosa_s / self.ours_s


def agreement(y: np.ndarray, device: str = "cpu") -> dict:
    """Largest absolute difference per output between ours (on ``device``) and librosa."""
    a = ours(torch.from_numpy(y).to(device))
    b = reference(y)
    return {k: float(np.abs(a[k].cpu().numpy() - b[k]).max()) for k in b}


def run(devices=("cpu",), batch: int = 32, durations=(3.0, 60.0), repeats: int = 7,
        long_batch: int = 8) -> tuple[list[Row], dict]:
    """Time every case on every device (librosa always on the CPU).

    Each implementation is timed in its own block of repeats, after a warm-up: when the two
    take turns call by call, the BLAS threads numpy leaves spinning after a librosa call
    compete with torch's threads for the same cores, and on a 2-core machine that made the
    torch side look up to 20x slower than it runs in an application.
    """
    cases = []
    for sec in durations:
        cases.append((f"1 x {sec:g} s", speech_like_signal(sec), 1, sec))
    cases.append((f"{batch} x {durations[0]:g} s", speech_like_signal(durations[0], batch), batch,
                  durations[0]))
    if long_batch and len(durations) > 1:
        cases.append((f"{long_batch} x {durations[-1]:g} s",
                      speech_like_signal(durations[-1], long_batch), long_batch, durations[-1]))
    rows = []
    for name, y, clips, sec in cases:
        reference(y)  # warm-up
        lib = [_timed(lambda: reference(y)) for _ in range(repeats)]
        for dev in devices:
            x = torch.from_numpy(y).to(dev)
            sync = torch.cuda.synchronize if dev.startswith("cuda") else None
            _timed(lambda: ours(x), sync)  # warm-up
            mine = [_timed(lambda: ours(x), sync) for _ in range(repeats)]
            rows.append(Row(dev, name, clips, sec, statistics.median(mine), statistics.median(lib)))
    checks = {dev: agreement(speech_like_signal(3.0, 4, seed=1), dev) for dev in devices}
    return rows, checks


def format_table(rows: list[Row], checks: dict) -> str:
    lines = [f"{'device':6s} {'input':>12s} {'ours ms':>10s} {'librosa ms':>11s} "
             f"{'ours ms/clip':>13s} {'librosa ms/clip':>16s} {'speed-up':>9s}"]
    for r in rows:
        lines.append(f"{r.device:6s} {r.case:>12s} {r.ours_s * 1e3:10.2f} {r.librosa_s * 1e3:11.2f} "
                     f"{r.ours_s * 1e3 / r.clips:13.2f} {r.librosa_s * 1e3 / r.clips:16.2f} "
                     f"{r.ratio:8.1f}x")
    lines.append("")
    lines.append("agreement with librosa (max |ours - librosa|, tolerance):")
    for dev, diffs in checks.items():
        parts = [f"{k} {v:.2e} (<= {TOLERANCES[k]:g} {'ok' if v <= TOLERANCES[k] else 'FAIL'})"
                 for k, v in diffs.items()]
        lines.append(f"  {dev}: " + ", ".join(parts))
    return "\n".join(lines)


def environment() -> str:
    import platform

    import librosa

    import os

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    return (f"torch {torch.__version__} ({torch.get_num_threads()} CPU threads), librosa "
            f"{librosa.__version__}, numpy {np.__version__}, CPU {platform.processor() or platform.machine()}"
            f" x{os.cpu_count()}{load}, CUDA device: {cuda}")
