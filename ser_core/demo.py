"""A demo clip for people who have no audio at hand.

:func:`demo_clip` speaks a sentence with ``espeak-ng`` when it is installed, and otherwise
synthesises a voiced vowel-like tone (a glottal-pulse-like harmonic series with a pitch
contour and formant-ish amplitude envelope). Neither is emotional speech: the demo shows the
plumbing and the features, not a model's judgement.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.audio import Audio, load_audio, to_wav_bytes

DEMO_TEXT = "I can't believe you did that. This is the best day of my life!"


def espeak_wav(text: str = DEMO_TEXT, voice: str = "en", speed: int = 150,
               pitch: int = 50) -> bytes | None:
    """WAV bytes of ``text`` spoken by espeak-ng (22.05 kHz mono), or ``None`` if unavailable."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo.wav"
        try:
            subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                           check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.read_bytes() if out.is_file() and out.stat().st_size > 44 else None


def synthetic_voice(seconds: float = 3.0, sr: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """A speech-like voiced signal: falling-rising pitch, syllable-rate envelope, formants."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.6 * t) + 15 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    sig = np.zeros_like(t)
    for k in range(1, 30):
        fk = k * f0
        # two formant bumps (~500 Hz and ~1500 Hz) shape the harmonic amplitudes
        gain = (np.exp(-((fk - 500) / 300) ** 2) + 0.6 * np.exp(-((fk - 1500) / 400) ** 2)
                + 0.05) / k ** 0.5
        sig += gain * np.sin(k * phase)
    syllables = 0.5 * (1 - np.cos(2 * np.pi * 3.5 * t)) ** 2
    rng = np.random.default_rng(0)
    x = sig * syllables + 0.002 * rng.standard_normal(t.shape)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def demo_wav_bytes() -> tuple[bytes, str]:
    """WAV bytes of the demo clip and a description of what it is."""
    wav = espeak_wav()
    if wav is not None:
        return wav, f'espeak-ng saying "{DEMO_TEXT}"'
    return to_wav_bytes(synthetic_voice(), DEFAULT_SAMPLE_RATE), "a synthetic voiced tone (espeak-ng is not installed)"


def demo_clip(target_sr: int | None = DEFAULT_SAMPLE_RATE) -> Audio:
    """The demo clip decoded by the audio layer (so it is validated like any upload)."""
    wav, _ = demo_wav_bytes()
    return load_audio(wav, target_sr=target_sr)
