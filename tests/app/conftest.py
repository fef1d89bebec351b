"""Fixtures for the app tests: tiny real checkpoints, WAV bytes, a tiny corpus folder, and
an environment where the app reads only temporary folders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
MODELS = ("acrnn", "glam", "parallel_cnn_transformer", "serct")


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """Four untrained checkpoints of different kinds; acrnn carries measured-looking metrics
    so the Compare page has tables and a confusion matrix to draw."""
    from ser_core.testing import EKMAN7, make_tiny_checkpoint

    root = tmp_path_factory.mktemp("app_checkpoints")
    eye = np.eye(len(EKMAN7)) * 0.6 + 0.4 / len(EKMAN7)
    metrics = {"mean": {"wa": 0.61, "ua": 0.58, "weighted_f1": 0.60, "macro_f1": 0.57},
               "std": {"wa": 0.03, "ua": 0.04, "weighted_f1": 0.03, "macro_f1": 0.05},
               "folds": [{"fold": 0, "wa": 0.6, "ua": 0.55, "weighted_f1": 0.58, "macro_f1": 0.54}]}
    for name in MODELS:
        extra = {"metrics": metrics, "confusion_matrix": {"labels": list(EKMAN7), "test": eye.tolist()}} \
            if name == "acrnn" else None
        make_tiny_checkpoint(root / name, name, meta_extra=extra)
    return root


def wav_bytes(seconds: float = 2.0, sr: int = 16000, freq: float = 180.0) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture
def tiny_emodb(tmp_path) -> Path:
    """An Emo-DB-shaped folder (wav/SSTTTEV.wav) of generated tones: 3 speakers x 2 emotions."""
    root = tmp_path / "emodb"
    (root / "wav").mkdir(parents=True)
    for spk in ("03", "08", "09"):
        for emo, f in (("W", 220.0), ("T", 140.0)):
            (root / "wav" / f"{spk}a01{emo}a.wav").write_bytes(wav_bytes(1.2, freq=f))
    return root


def stop_jobs(runs: Path) -> None:
    """Stop the job worker (and any job still running) that a test started in ``runs``."""
    import os
    import signal
    import time

    if not (runs / "jobs.sqlite").exists():
        return
    from ser_core.jobs.procs import group_members, is_alive, signal_group
    from ser_core.jobs.store import RUNNING, Store

    store = Store(runs)
    for job in store.list((RUNNING,)):
        if job.pgid and group_members(job.pgid):
            signal_group(job.pgid, signal.SIGKILL)
    w = store.worker()
    if w and is_alive(w["pid"], w["pid_start"]):
        os.kill(w["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 15
        while is_alive(w["pid"], w["pid_start"]) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture(scope="session")
def jobs_stopper():
    """``stop_jobs`` for fixtures of other scopes (the browser tests' server)."""
    return stop_jobs


@pytest.fixture
def app_env(monkeypatch, tmp_path, tiny_checkpoints):
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(tiny_checkpoints))
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SER_JOBS_IDLE_EXIT", "5")
    monkeypatch.setenv("SER_DATA_ROOT", str(tmp_path / "no_data_here"))
    monkeypatch.setenv("SER_VAD", "off")  # the pages' clips are generated tones, not speech
    monkeypatch.setenv("SER_ONNX_CACHE", str(tmp_path / "onnx"))  # the app's background exports
    monkeypatch.setenv("SER_ALLOWED_ROOTS", str(tmp_path))  # the test's folders (tiny_emodb)
    yield tiny_checkpoints
    stop_jobs(tmp_path / "runs")


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(tmp_path / "none_installed"))
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SER_JOBS_IDLE_EXIT", "5")
    monkeypatch.setenv("SER_DATA_ROOT", str(tmp_path / "no_data_here"))


@pytest.fixture
def wav():
    """``wav(seconds=2.0, sr=16000, freq=180.0) -> bytes`` of a WAV file."""
    return wav_bytes


@pytest.fixture
def app():
    """A fresh AppTest of the whole app (entry script), not yet run."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)
