"""Shared fixtures.

Under ``CI=true`` a test skipped for lack of something CI has (the corpora, Chromium,
espeak-ng) is turned into a failure: see ``pytest_runtest_makereport``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("SER_DATA_ROOT", REPO.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"

# Skip reasons that start with this prefix mean "CI has it, so in CI this is a failure".
NEEDS = "needs "


def corpus_root(name: str) -> Path:
    root = DATA_ROOT / name
    if not root.is_dir():
        pytest.skip(f"{NEEDS}the {name} corpus at {root} (set SER_DATA_ROOT)")
    return root


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{NEEDS}the {name} program (apt-get install {name})")
    return path


@pytest.fixture
def ravdess_root() -> Path:
    return corpus_root("ravdess")


@pytest.fixture
def emodb_root() -> Path:
    return corpus_root("emodb")


@pytest.fixture
def emovo_root() -> Path:
    return corpus_root("emovo")


@pytest.fixture
def cremad_root() -> Path:
    return corpus_root("cremad")


def tone(freq: float = 220.0, seconds: float = 1.0, sr: int = 16000, amp: float = 0.3) -> np.ndarray:
    """A harmonic tone with a slow amplitude envelope (speech-like enough for unit tests)."""
    t = np.arange(int(seconds * sr)) / sr
    sig = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / max(seconds, 1e-9), 1.0)))
    rng = np.random.default_rng(0)
    return (sig * env + 0.003 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.fixture
def make_wav(tmp_path):
    """Write a generated tone to a WAV file and return its path."""
    import soundfile as sf

    def _make(name="tone.wav", seconds=1.0, sr=16000, channels=1, freq=220.0, subtype="PCM_16"):
        x = tone(freq, seconds, sr)
        if channels > 1:
            x = np.stack([x] * channels, axis=1)
        path = tmp_path / name
        sf.write(path, x, sr, subtype=subtype)
        return path

    return _make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and call.excinfo is not None:
        reason = str(call.excinfo.value)
        if reason.startswith(NEEDS) or reason.startswith("Skipped: " + NEEDS):
            report.outcome = "failed"
            report.longrepr = f"CI=true but a test was skipped: {reason}"
