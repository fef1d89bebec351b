"""Tiny synthetic audio trees in the corpora's real naming, for loader and split tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_core.data.records import Utterance


def write_audio(path: Path, seconds: float = 0.3, sr: int = 16000, content: str | None = None,
                fmt: str | None = None) -> Path:
    """A short tone + noise whose content depends on ``content`` (default: the full path),
    so distinct files never hash equal by accident."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = int(hashlib.sha256((content or path.as_posix()).encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * (150 + seed % 300) * t) + 0.01 * rng.standard_normal(t.shape)
    sf.write(path, x.astype(np.float32), sr, subtype="PCM_16", format=fmt)
    return path


def write_files(root: Path, names, **kw) -> list[Path]:
    return [write_audio(root / n, **kw) for n in names]


def utt(corpus: str, speaker: str, i: int, emotion: str = "neutral", label: str | None = None,
        **extra) -> Utterance:
    """An in-memory utterance (no file) for split tests."""
    return Utterance(uid=f"{corpus}:{speaker}_{i:03d}", path=f"/nonexistent/{corpus}/{speaker}_{i}.wav",
                     corpus=corpus, speaker=speaker, emotion=emotion, label=label or emotion,
                     extra=extra)
