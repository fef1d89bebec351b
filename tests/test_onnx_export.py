"""ONNX export (``ser_core.onnx_export``), the onnxruntime backend (``ser_core.backends``) and
``python -m ser_core export onnx``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install -r requirements.txt)")

from ser_core.audio import Audio  # noqa: E402
from ser_core.backends import (OnnxRuntimeBackend, cached_export, export_in_background,  # noqa: E402
                               make_backend, prune_cache)  # noqa: E402
from ser_core.checkpoint import CheckpointMeta, find_checkpoints, save_checkpoint  # noqa: E402
from ser_core.data.records import iter_audio_files  # noqa: E402
from ser_core.inference import InferenceService, load_installed  # noqa: E402
from ser_core.models import create_model, model_class  # noqa: E402
from ser_core.onnx_export import (ExportError, _trace_to_onnx, checkpoint_hash,  # noqa: E402
                                  export_checkpoint, probe_waveform)
from tests.conftest import DATA_ROOT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABELS = ["neutral", "happy", "sad", "angry"]


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """An untrained, small ACRNN from the registry (time axis can be dynamic)."""
    torch.manual_seed(0)
    cfg = dict(conv_channels=[8, 8], bottleneck=32, lstm_hidden=16, fc_hidden=8)
    model = create_model("acrnn", len(LABELS), **cfg)
    meta = CheckpointMeta.for_model("acrnn", LABELS, model_class("acrnn").input_spec,
                                    model_config=cfg, extra={"temperature": 1.5})
    return save_checkpoint(tmp_path / "tiny_acrnn", model, meta)


def test_export_writes_graph_and_metadata_that_reproduce_the_model(tiny_checkpoint, tmp_path):
    done = export_checkpoint(tiny_checkpoint, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert done.path.is_file() and meta == done.meta
    assert meta["labels"] == LABELS and meta["sample_rate"] == 16000 and meta["temperature"] == 1.5
    assert meta["feature"]["kind"] == "logmel_deltas" and meta["input_spec"]["segment_s"] == 3.0
    assert meta["checkpoint_sha256"] == checkpoint_hash(tiny_checkpoint)
    assert meta["dynamic_time"] is True and meta["inputs"][0]["shape"] == ["batch", 3, 40, "time"]
    entry = load_installed(tiny_checkpoint, torch.device("cpu"))
    backend = OnnxRuntimeBackend(done, threads=1)
    for seconds in (3.0, 4.5):  # the shipped length and another one (dynamic time axis)
        segs = probe_waveform(2 * seconds, 16000).reshape(2, -1)
        x = entry.prepare(segs)
        with torch.inference_mode():
            ref = entry.model(x)
        got = backend(x)
        assert got.shape == ref.shape == (2, len(LABELS))
        assert torch.allclose(got, ref, atol=1e-4)


def test_an_operator_onnx_cannot_express_is_refused_with_a_sentence(tmp_path):
    class Spectrum(torch.nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).abs()

    with pytest.raises(ExportError, match=r"cannot be exported to ONNX.*fft_rfft"):
        _trace_to_onnx(Spectrum(), {"x": torch.randn(2, 64)}, tmp_path / "m.onnx", False, "spectrum")


def test_cache_exports_once_per_checkpoint_content(tiny_checkpoint, tmp_path):
    first = cached_export(tiny_checkpoint, tmp_path / "cache")
    stamp = first.path.stat().st_mtime_ns
    again = cached_export(tiny_checkpoint, tmp_path / "cache")
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith(checkpoint_hash(tiny_checkpoint)[:20])
    for i in range(3):  # older entries
        (tmp_path / "cache" / f"stale{i}").mkdir()
        os.utime(tmp_path / "cache" / f"stale{i}", (1000 + i, 1000 + i))
    prune_cache(tmp_path / "cache", keep=2)
    assert first.path.is_file() and len(list((tmp_path / "cache").iterdir())) == 2  # newest kept


def test_auto_uses_a_cached_export_and_both_backends_agree(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SER_ONNX_CACHE", str(tmp_path / "cache"))
    audio = Audio(waveform=probe_waveform(7.6, 16000), sample_rate=16000, name="probe",
                  original_sample_rate=16000, original_channels=1)
    eager = InferenceService.from_paths([tiny_checkpoint], device="cpu", backend="torch", strict=True)
    fresh = InferenceService.from_paths([tiny_checkpoint], device="cpu", backend="auto", strict=True)
    assert eager.models[0].backend is None and fresh.models[0].backend is None  # auto never exports
    thread = export_in_background(fresh.models, threads=1)
    thread.join(120)
    assert isinstance(fresh.models[0].backend, OnnxRuntimeBackend)
    onnx = InferenceService.from_paths([tiny_checkpoint], device="cpu", backend="auto", strict=True)
    assert isinstance(onnx.models[0].backend, OnnxRuntimeBackend)  # the cached export
    assert onnx.models[0].backend.export.path.parent.parent == tmp_path / "cache"
    a, b = eager.predict(audio).models[0], onnx.predict(audio).models[0]
    assert a.top == b.top and len(a.segment_probs) == len(b.segment_probs) == 3
    assert not onnx.models[0].backend.accepts({"x": None, "reference": None})  # runs on torch
    assert np.allclose(a.segment_probs, b.segment_probs, atol=1e-5)


def test_unknown_backend_is_a_config_error(tiny_checkpoint):
    from ser_core.errors import ConfigError

    entry = load_installed(tiny_checkpoint, torch.device("cpu"))
    with pytest.raises(ConfigError, match="backend must be one of"):
        make_backend(entry, "tensorrt")


def test_cli_exports_and_refuses_a_folder_without_checkpoints(tiny_checkpoint, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "ser_core", *a], cwd=REPO,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    ok = run("export", "onnx", str(tiny_checkpoint), "--out", str(tmp_path / "exp"), "--json")
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout.strip().splitlines()[-1])
    assert Path(row["onnx"]) == tmp_path / "exp" / "tiny_acrnn" / "model.onnx" and row["dynamic_time"]
    (tmp_path / "empty").mkdir()
    bad = run("export", "onnx", str(tmp_path / "empty"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "holds none" in bad.stderr


# -- the shipped checkpoints on real speech ----------------------------------------------------

SHIPPED = find_checkpoints(REPO / "checkpoints")
CORPORA = ("emodb", "emovo", "ravdess")


def _real_clips(per_corpus: int = 4) -> list[Path]:
    clips = []
    for name in CORPORA:
        root = DATA_ROOT / name
        if not root.is_dir():
            pytest.skip(f"needs the {name} corpus at {root} (set SER_DATA_ROOT)")
        files = iter_audio_files(root)  # FLAC in ../shared/data: never glob for *.wav
        clips += files[:: max(1, len(files) // per_corpus)][:per_corpus]
    assert len(clips) == per_corpus * len(CORPORA), "a corpus folder without audio"
    return clips


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.skipif(not SHIPPED, reason="no checkpoints shipped in checkpoints/")
def test_shipped_models_onnxruntime_matches_torch_on_real_speech(tmp_path, monkeypatch):
    from ser_core.audio import load_audio

    monkeypatch.setenv("SER_ONNX_CACHE", str(tmp_path / "cache"))
    clips = _real_clips()
    eager = InferenceService.from_paths(SHIPPED, device="cpu", backend="torch", strict=True)
    onnx = InferenceService.from_paths(SHIPPED, device="cpu", backend="onnxruntime", strict=True)
    assert all(isinstance(m.backend, OnnxRuntimeBackend) for m in onnx.models)
    assert len(onnx) == len(SHIPPED) >= 7
    for clip in clips:
        audio = load_audio(clip, target_sr=None)
        for a, b in zip(eager.predict(audio).models, onnx.predict(audio).models):
            assert a.name == b.name
            assert a.top == b.top, f"{a.name} on {clip.name}: {a.top} vs {b.top}"
            diff = float(np.abs(np.array(a.probs) - np.array(b.probs)).max())
            assert diff <= 1e-3, f"{a.name} on {clip.name}: probabilities differ by {diff:.2e}"


@pytest.mark.corpus
@pytest.mark.skipif(not SHIPPED, reason="no checkpoints shipped in checkpoints/")
def test_int8_probe_quantises_a_shipped_model_and_compares_it_with_float32(tmp_path):
    """scripts/probe_int8.py (README "Speed"): both quantisation formats of one shipped model,
    timed and compared with the float32 graph on real clips; small sizes, so only its shape."""
    _real_clips(1)  # skips without the corpora
    env = {**os.environ, "SER_ONNX_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "probe_int8.py"), "--data", str(DATA_ROOT),
                          "--models", "squirtlenet_small", "--calib", "2", "--clips", "2", "--repeats", "1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("squirtlenet_small")]
    assert [r[1] for r in rows] == ["QDQ", "QOperator"]
    for r in rows:
        fp32, int8, agree = float(r[2]), float(r[3]), float(r[5].rstrip("%"))
        assert fp32 > 0 and int8 > 0 and 0 <= agree <= 100
    assert "test clips" in out.stdout.splitlines()[0]
