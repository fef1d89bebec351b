"""The int8 onnxruntime backend: calibration stored as ranges, graphs made from them, the
float32 fallback, and the shipped checkpoints' int8 graphs on real speech."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from ser_core import onnx_int8  # noqa: E402
from ser_core.audio import Audio  # noqa: E402
from ser_core.backends import INT8, OnnxRuntimeBackend, backend_label, backend_name, make_backend  # noqa: E402
from ser_core.checkpoint import CheckpointMeta, find_checkpoints, save_checkpoint  # noqa: E402
from ser_core.data.records import iter_audio_files  # noqa: E402
from ser_core.inference import InferenceService, load_installed  # noqa: E402
from ser_core.models import create_model, model_class  # noqa: E402
from ser_core.onnx_export import probe_waveform  # noqa: E402
from tests.conftest import DATA_ROOT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABELS = ["neutral", "happy", "sad", "angry"]


def _checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    cfg = dict(conv_channels=[8, 8], bottleneck=32, lstm_hidden=16, fc_hidden=8)
    model = create_model("acrnn", len(LABELS), **cfg)
    meta = CheckpointMeta.for_model("acrnn", LABELS, model_class("acrnn").input_spec, model_config=cfg)
    return save_checkpoint(path, model, meta)


def _clips(n: int, seconds: float = 3.0, seed: int = 0) -> list[Audio]:
    """Speech-like probe signals at several levels with a little noise of their own."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        wave = probe_waveform(seconds, 16000) * (0.3 + 0.5 * i / max(n - 1, 1))
        wave = wave + 0.01 * torch.randn(wave.shape, generator=g)
        out.append(Audio(waveform=wave, sample_rate=16000, name=f"clip{i}",
                         original_sample_rate=16000, original_channels=1))
    return out


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SER_ONNX_CACHE", str(tmp_path / "cache"))
    return _checkpoint(tmp_path / "tiny_acrnn", seed=0)


def test_calibration_is_stored_beside_the_weights_and_rebuilds_an_int8_graph(tiny, monkeypatch):
    monkeypatch.setattr(onnx_int8, "MIN_SPEEDUP", 0.0)  # a tiny model: judge int8 on agreement only
    monkeypatch.setattr(onnx_int8, "MIN_AGREEMENT", 0.0)
    body = onnx_int8.calibrate_checkpoint(tiny, _clips(4), _clips(3, seed=1), repeats=2)
    stored = json.loads((tiny / onnx_int8.CALIBRATION_FILE).read_text())
    assert stored == body and body["use"] is True
    assert body["calibration"]["clips"] == 4 and body["measured"]["test_clips"] == 3
    assert 0.0 <= body["measured"]["same_top_class"] <= 1.0 and body["measured"]["int8_ms"] > 0
    assert body["ranges"]["data"] and body["quantisation"]["format"] == "QDQ"

    export = onnx_int8.int8_export(tiny)
    import onnx

    ops = {n.op_type for n in onnx.load(str(export.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantised
    assert export.meta["int8"]["measured"] == body["measured"]
    again = onnx_int8.int8_export(tiny)
    assert again.path == export.path  # made once per calibration, then cached

    entry = load_installed(tiny, torch.device("cpu"))
    backend = make_backend(entry, INT8, threads=1)
    assert isinstance(backend, OnnxRuntimeBackend) and backend.name == INT8 and not backend.note
    entry.backend = backend
    assert backend_label(entry) == (f"onnxruntime-int8 (same top class as float32 on "
                                    f"{100 * body['measured']['same_top_class']:.1f} % of 3 clips)")
    x = entry.prepare(probe_waveform(6.0, 16000).reshape(2, -1))
    with torch.inference_mode():
        ref = entry.model(x)
    got = backend(x)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) < 0.5 * float(ref.abs().max()) + 0.05  # close, not equal


def test_int8_not_worth_it_runs_the_float32_graph_and_says_why(tiny, monkeypatch):
    monkeypatch.setattr(onnx_int8, "MIN_SPEEDUP", 1e9)
    body = onnx_int8.calibrate_checkpoint(tiny, _clips(2), _clips(2, seed=1), repeats=2)
    assert body["use"] is False and "not faster" in body["why"]
    assert onnx_int8.int8_export(tiny) is None
    entry = load_installed(tiny, torch.device("cpu"))
    backend = make_backend(entry, INT8, threads=1)
    assert backend.name == "onnxruntime" and f"was {body['measured']['speedup']:.2f}x as fast" in backend.note
    assert f"kept {100 * body['measured']['same_top_class']:.1f} % of the answers" in backend.note


def test_missing_or_stale_calibration_falls_back_to_float32_with_a_sentence(tiny, tmp_path, monkeypatch):
    with pytest.raises(onnx_int8.Int8Error, match="has no int8 calibration.*export int8"):
        onnx_int8.int8_export(tiny)
    svc = InferenceService.from_paths([tiny], device="cpu", backend=INT8, strict=True)
    assert backend_name(svc.models[0]) == "onnxruntime" and "no int8 calibration" in svc.models[0].backend.note

    monkeypatch.setattr(onnx_int8, "MIN_SPEEDUP", 0.0)
    monkeypatch.setattr(onnx_int8, "MIN_AGREEMENT", 0.0)
    onnx_int8.calibrate_checkpoint(tiny, _clips(2), _clips(2, seed=1), repeats=2)
    other = _checkpoint(tmp_path / "other", seed=1)  # other weights, the same calibration file
    (other / onnx_int8.CALIBRATION_FILE).write_bytes((tiny / onnx_int8.CALIBRATION_FILE).read_bytes())
    with pytest.raises(onnx_int8.Int8Error, match="measured for other weights"):
        onnx_int8.int8_export(other)

    body = json.loads((tiny / onnx_int8.CALIBRATION_FILE).read_text())
    body["ranges"]["data"]["/no/such/tensor"] = body["ranges"]["data"][next(iter(body["ranges"]["data"]))]
    (tiny / onnx_int8.CALIBRATION_FILE).write_text(json.dumps(body))
    with pytest.raises(onnx_int8.Int8Error, match="do not fit this exporter's graph"):
        onnx_int8.int8_export(tiny)
    (tiny / onnx_int8.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(onnx_int8.Int8Error, match="unreadable"):
        onnx_int8.read_calibration(tiny)


def test_predict_offers_every_backend():
    """``predict --backend`` spells its choices out (the CLI does not import torch to list them);
    they must be the backends the service knows."""
    from ser_core.backends import BACKENDS
    from ser_core.cli import subcommand_parser

    action = next(a for a in subcommand_parser(("predict",))._actions if a.dest == "backend")
    assert tuple(action.choices) == BACKENDS


def test_cli_export_int8_needs_speech(tiny, tmp_path):
    (tmp_path / "nodata" / "corpus").mkdir(parents=True)
    out = subprocess.run([sys.executable, "-m", "ser_core", "export", "int8", str(tiny),
                          "--data", str(tmp_path / "nodata")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "needs speech" in out.stderr
    assert not (tiny / onnx_int8.CALIBRATION_FILE).exists()


# -- the shipped checkpoints ------------------------------------------------------------------

SHIPPED = find_checkpoints(REPO / "checkpoints")
CALIBRATED = [d for d in SHIPPED if (d / onnx_int8.CALIBRATION_FILE).is_file()]


@pytest.mark.skipif(not CALIBRATED, reason="no shipped checkpoint has an int8 calibration")
def test_shipped_int8_calibrations_belong_to_the_shipped_weights():
    """Re-shipping a checkpoint without measuring its int8 ranges again leaves a calibration of
    other weights, which the backend refuses: this catches it before a user does."""
    from ser_core.onnx_export import checkpoint_hash

    for d in CALIBRATED:
        body = onnx_int8.read_calibration(d)
        assert body["checkpoint_sha256"] == checkpoint_hash(d), f"{d.name}: run export int8 again"
        m = body["measured"]
        assert body["use"] == (m["speedup"] >= onnx_int8.MIN_SPEEDUP
                               and m["same_top_class"] >= onnx_int8.MIN_AGREEMENT)


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.skipif(not CALIBRATED, reason="no shipped checkpoint has an int8 calibration")
def test_shipped_int8_graphs_mostly_keep_the_float32_answer_on_real_speech(tmp_path, monkeypatch):
    from ser_core.audio import load_audio

    monkeypatch.setenv("SER_ONNX_CACHE", str(tmp_path / "cache"))
    clips = []
    for name in ("emodb", "emovo", "ravdess"):
        root = DATA_ROOT / name
        if not root.is_dir():
            pytest.skip(f"needs the {name} corpus at {root} (set SER_DATA_ROOT)")
        files = iter_audio_files(root)
        clips += files[7:: max(1, len(files) // 5)][:5]
    assert len(clips) == 15
    used = [d for d in CALIBRATED if onnx_int8.read_calibration(d)["use"]]
    assert used, "no shipped model runs int8"
    fp32 = InferenceService.from_paths(used, device="cpu", backend="onnxruntime", strict=True)
    int8 = InferenceService.from_paths(used, device="cpu", backend=INT8, strict=True)
    assert {backend_name(m) for m in int8.models} == {INT8}
    same = []
    for clip in clips:
        audio = load_audio(clip, target_sr=None)
        for a, b in zip(fp32.predict(audio).models, int8.predict(audio).models):
            same.append(a.top == b.top)
            assert np.isclose(sum(b.probs), 1.0, atol=1e-4)
    assert np.mean(same) >= 0.85, f"int8 kept the float32 answer on {100 * np.mean(same):.0f} % only"
