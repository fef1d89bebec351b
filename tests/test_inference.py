"""The inference service and ``python -m ser_core predict`` on tiny real checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ser_core.audio import Audio, load_audio
from ser_core.checkpoint import load_checkpoint, prepare_batch
from ser_core.errors import CheckpointError
from ser_core.features.segments import aggregate_posteriors, segment_waveform
from ser_core.inference import (InferenceService, checkpoints_dir, consensus_of,
                                interactive_threads)
from ser_core.testing import make_tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]
MODELS = ("acrnn", "glam", "parallel_cnn_transformer", "serct")


@pytest.fixture(scope="module")
def ckpt_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkpoints")
    for name in MODELS:
        make_tiny_checkpoint(root / name, name)
    return root


@pytest.fixture(scope="module")
def service(ckpt_root) -> InferenceService:
    # generated tones are not speech: voice activity detection is tested in tests/test_vad.py
    return InferenceService.from_paths([ckpt_root], device="cpu", vad=False)


def clip(seconds: float, sr: int = 16000, freq: float = 220.0) -> Audio:
    t = torch.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 - torch.cos(2 * torch.pi * 1.5 * t))
    x = (0.3 * env * (torch.sin(2 * torch.pi * freq * t) + 0.4 * torch.sin(2 * torch.pi * 2 * freq * t))).float()
    return Audio(waveform=x, sample_rate=sr, original_sample_rate=sr, original_channels=1, name="tone")


def test_loads_every_checkpoint_once_with_names(service, ckpt_root):
    assert service.names() == list(MODELS)
    assert not service.failed
    assert all(m.path.parent == ckpt_root for m in service.models)
    acrnn = service.get("acrnn")
    assert acrnn.spec.aggregation == "max" and acrnn.spec.segment_s == 3.0
    assert acrnn.labels[0] == "neutral" and acrnn.sample_rate == 16000


def test_prediction_is_the_trainers_computation(service):
    """Segments per input_spec, the trainer's prepare_batch (features + stored normalisation),
    the model, softmax, then the model's own pooling: the service must give exactly that."""
    audio = clip(7.3)
    pred = service.predict(audio)
    assert [m.name for m in pred.models] == list(MODELS)
    for m in pred.models:
        entry = service.get(m.name)
        assert entry.meta.normalization["type"] == "mean_std"
        segs = segment_waveform(audio.waveform, 16000, entry.spec.segment_s, entry.spec.hop_s,
                                min_tail=service.min_fill)
        model, meta = load_checkpoint(entry.path)
        with torch.no_grad():
            expected_seg = torch.softmax(model(prepare_batch(meta, segs)), -1)
        # segments that are mostly zero padding do not vote (ser_core.features.segments)
        expected = aggregate_posteriors(expected_seg, entry.spec.aggregation,
                                        torch.tensor(m.segment_votes))
        assert len(m.segment_probs) == segs.shape[0]
        np.testing.assert_allclose(m.segment_probs, expected_seg.numpy(), atol=1e-5)
        np.testing.assert_allclose(m.probs, expected.numpy(), atol=1e-5)
        assert abs(sum(m.probs) - 1) < 1e-5
        assert m.top == m.labels[int(np.argmax(m.probs))]
    glam = next(m for m in pred.models if m.name == "glam")
    assert glam.segment_starts_s[:3] == [0.0, 0.4, 0.8]  # 2 s windows every 0.4 s
    acrnn = next(m for m in pred.models if m.name == "acrnn")
    # 7.3 s -> 2 x 3 s: a third segment would be 1.3 s of audio and 1.7 s of padding
    assert acrnn.aggregation == "max" and len(acrnn.segment_probs) == 2
    assert acrnn.segment_starts_s == [0.0, 3.0] and acrnn.segment_votes == [True, True]


@pytest.mark.parametrize("seconds, starts", [(3.0, [0.0]), (3.01, [0.0]), (4.4, [0.0]),
                                             (4.6, [0.0, 3.0]), (1.2, [0.0])])
def test_no_segment_of_mostly_padding_is_cut(service, seconds, starts):
    """A 3.00 s clip, or one just over the 3 s boundary, gets one 3 s segment, not a second of
    (almost) only zero padding (which the timeline showed, e.g. labelled 'sad'); a last
    segment at least half real audio is still cut, and a short clip keeps its one segment."""
    acrnn = next(m for m in service.predict(clip(seconds)).models if m.name == "acrnn")
    assert acrnn.segment_starts_s == starts and len(acrnn.segment_probs) == len(starts)
    assert all(acrnn.segment_votes)


def test_models_side_by_side_give_what_one_after_another_gives(ckpt_root):
    """The app runs models side by side (one thread each, on a pool); the answers, pooled
    segments and consensus are those of running them one after another."""
    svc = InferenceService.from_paths([ckpt_root], device="cpu", vad=False, threads=1)
    audio = clip(5.2)
    svc.workers = 1
    serial = svc.predict(audio)
    svc.workers = 2
    assert svc._side_by_side(len(svc)) == 2
    parallel = svc.predict(audio)
    assert [m.name for m in parallel.models] == [m.name for m in serial.models]
    for a, b in zip(serial.models, parallel.models):
        assert a.probs == pytest.approx(b.probs, abs=1e-6)
        assert np.allclose(a.segment_probs, b.segment_probs, atol=1e-6)
    assert parallel.consensus.probs == pytest.approx(serial.consensus.probs, abs=1e-6)
    # the features shared within one prediction reach the pool's threads
    from ser_core.features import pipeline

    seen = []
    real_run = svc._run
    svc._run = lambda *a, **k: seen.append(pipeline._MEMO.get() is not None) or real_run(*a, **k)
    svc.predict(audio)
    assert seen == [True] * len(svc)
    del svc._run
    svc.workers = None  # default: the cores over each model's threads, never more than models
    assert svc._side_by_side(1) == 1
    assert 1 <= svc._side_by_side(len(svc)) <= len(svc)


def test_min_fill_zero_keeps_every_segment(ckpt_root):
    """``min_fill=0`` (``loco --min-fill 0``: every segment votes) still cuts the padded tail."""
    svc = InferenceService.from_paths([ckpt_root / "acrnn"], device="cpu", vad=False, min_fill=0.0)
    acrnn = svc.predict(clip(3.01)).models[0]
    assert acrnn.segment_starts_s == [0.0, 3.0] and acrnn.segment_votes == [True, True]


def test_normalisation_from_meta_is_applied(ckpt_root, tmp_path):
    """Same weights without the stored statistics give a different answer."""
    plain = make_tiny_checkpoint(tmp_path / "glam_plain", "glam", normalization=None)
    svc = InferenceService.from_paths([ckpt_root / "glam", plain], device="cpu")
    a, b = svc.predict(clip(3.0)).models
    assert not np.allclose(a.probs, b.probs, atol=1e-4)


def test_resamples_other_rates(service):
    sr = 22050
    audio22 = clip(3.0, sr=sr)
    pred = service.predict(audio22)
    assert pred.sample_rate == sr
    ref = service.predict(Audio(load_audio(_wav_bytes(audio22.waveform.numpy(), sr)).waveform, 16000,
                                sr, 1))
    for a, b in zip(pred.models, ref.models):
        np.testing.assert_allclose(a.probs, b.probs, atol=2e-3)


def _wav_bytes(x: np.ndarray, sr: int) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def test_consensus_over_different_label_sets(service, ckpt_root, tmp_path):
    """Label sets differ in classes and in spelling (Emo-DB's native 'anger', 'boredom')."""
    other = make_tiny_checkpoint(tmp_path / "emodb_native", "parallel_cnn_transformer",
                                 labels=("anger", "boredom", "neutral", "sadness"))
    svc = InferenceService.from_paths([ckpt_root / "glam", other], device="cpu")
    pred = svc.predict(clip(2.5))
    cons = pred.consensus
    assert cons.labels == list(svc.get("glam").labels) + ["boredom"]  # anger = angry, sadness = sad
    assert abs(sum(cons.probs) - 1) < 1e-6
    assert sum(cons.votes.values()) == 2
    g, f = pred.models
    for ours, theirs in (("neutral", "neutral"), ("angry", "anger"), ("sad", "sadness")):
        assert cons.probs[cons.labels.index(ours)] == pytest.approx(
            (g.probs[g.labels.index(ours)] + f.probs[f.labels.index(theirs)]) / 2, abs=1e-6)
    assert cons.probs[cons.labels.index("boredom")] == pytest.approx(f.probs[1] / 2, abs=1e-6)
    assert consensus_of([]) is None


def test_explain_returns_attention_of_each_kind(service):
    audio = clip(4.6)  # two 3 s segments (a 1 s tail would not be cut)
    acrnn = service.explain(audio, "acrnn")
    alpha = acrnn.maps["attention.probe"]
    assert alpha.shape[0] == 2 and acrnn.axes["attention.probe"][0] == "time"
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))
    assert acrnn.features.shape[:2] == (2, 3)  # segments x (log-mel, delta, delta-delta)
    pct = service.explain(audio, "parallel_cnn_transformer")
    (name, maps), = pct.maps.items()
    assert pct.axes[name][0] == "keys" and maps.dim() == 4
    serct = service.explain(audio, "serct")
    (wname, windows), = serct.windows.items()
    assert windows.shape[-1] == 2 and bool((windows[..., 0] <= windows[..., 1]).all())
    glam = service.explain(audio, "glam")
    assert glam.maps == {} and glam.prediction.probs == service.predict(audio).models[1].probs


def test_broken_checkpoint_does_not_hide_the_others(ckpt_root, tmp_path):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(ckpt_root / "glam", root / "good")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"model": "glam", "model_config": {}, "num_classes": 7, "labels": []}')
    (root / "broken" / "model.safetensors").write_bytes(b"not safetensors")
    svc = InferenceService.from_paths([root], device="cpu")
    assert svc.names() == ["good"]
    assert list(svc.failed) == [str(root / "broken")]


def test_explicit_path_without_checkpoints_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        InferenceService.from_paths([tmp_path])
    with pytest.raises(CheckpointError, match="does not exist"):
        InferenceService.from_paths([tmp_path / "nope"])


def test_checkpoints_dir_is_configurable(monkeypatch, tmp_path, ckpt_root):
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(tmp_path))
    assert checkpoints_dir() == tmp_path
    assert len(InferenceService.from_paths(None)) == 0  # the default folder may be empty
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(ckpt_root))
    assert InferenceService.from_paths(None).names() == list(MODELS)
    monkeypatch.delenv("SER_CHECKPOINTS_DIR")
    assert checkpoints_dir() == REPO / "checkpoints"


# -- the predict CLI ----------------------------------------------------------------------

@pytest.fixture
def wavs(tmp_path, make_wav):
    good = make_wav("good.wav", seconds=2.0)
    stereo = make_wav("stereo44.wav", seconds=3.5, sr=44100, channels=2)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    return good, stereo, bad


def run_cli(args, capsys):
    from ser_core.cli import main

    rc = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json_one_object_per_input(wavs, ckpt_root, capsys):
    good, stereo, bad = wavs
    rc, out, err = run_cli([good, bad, stereo, "--checkpoint", ckpt_root, "--json"], capsys)
    assert rc == 0
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(good), str(bad), str(stereo)]
    assert set(results[0]) == {"path", "duration_s", "sample_rate", "models", "consensus", "uncertain",
                               "threshold", "speech"}
    assert set(results[0]["speech"]) >= {"enough", "fraction", "intervals", "sentence"}
    assert set(results[1]) == {"path", "error"} and "bad.wav" in results[1]["error"]
    assert results[2]["sample_rate"] == 44100 and results[2]["duration_s"] == pytest.approx(3.5)
    for r in (results[0], results[2]):
        assert [m["name"] for m in r["models"]] == list(MODELS)
        for m in r["models"]:
            assert set(m) == {"name", "checkpoint", "labels", "probs", "top"}
            assert len(m["probs"]) == len(m["labels"]) and abs(sum(m["probs"]) - 1) < 1e-4
            assert m["top"] == m["labels"][int(np.argmax(m["probs"]))]


def test_cli_folder_input_and_default_checkpoints(wavs, ckpt_root, capsys, monkeypatch):
    good, stereo, bad = wavs
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(ckpt_root))
    rc, out, _ = run_cli([good.parent, "--json"], capsys)
    results = json.loads(out)
    assert rc == 0 and sorted(Path(r["path"]).name for r in results) == ["bad.wav", "good.wav", "stereo44.wav"]
    rc, out, _ = run_cli([good], capsys)  # human-readable
    assert rc == 0 and "acrnn" in out and "good.wav" in out


def test_cli_all_inputs_bad_exits_2_with_one_line(wavs, ckpt_root, capsys, tmp_path):
    _, _, bad = wavs
    rc, out, err = run_cli([bad, "--checkpoint", ckpt_root, "--json"], capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "bad.wav" in err
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    rc, out, err = run_cli([bad, empty, "--checkpoint", ckpt_root], capsys)
    assert rc == 2 and err.startswith("error: none of the 2 inputs") and err.count("\n") == 1


def test_cli_without_checkpoints_says_so(wavs, capsys, monkeypatch, tmp_path):
    good, _, _ = wavs
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(tmp_path / "none"))
    rc, out, err = run_cli([good], capsys)
    assert rc == 2 and "no usable checkpoint" in err and "Train" in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_subprocess_no_traceback(wavs, ckpt_root):
    good, _, bad = wavs
    r = subprocess.run([sys.executable, "-m", "ser_core", "predict", str(bad), "--checkpoint", str(ckpt_root)],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "ser_core", "predict", str(good), "--checkpoint", str(ckpt_root),
                        "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["models"]


def test_cli_bench_times_decode_and_every_model(wavs, ckpt_root, capsys):
    good, _, bad = wavs
    rc, out, err = run_cli([good, bad, "--checkpoint", ckpt_root, "--bench", "2", "--json"], capsys)
    assert rc == 0, err
    (row,) = json.loads(out)  # the bad input is left out
    assert row["path"] == str(good) and row["runs"] == 2
    assert set(row["models_ms"]) == set(MODELS) and row["total_ms"]["median"] > 0
    rc, out, _ = run_cli([good, "--checkpoint", ckpt_root, "--bench", "1"], capsys)
    assert rc == 0 and "warm runs" in out and "acrnn" in out


def test_a_training_runs_checkpoint_is_named_after_its_run(tmp_path):
    """``train --out runs/glam-emodb`` writes ``runs/glam-emodb/checkpoint``: show the run name."""
    ckpt = make_tiny_checkpoint(tmp_path / "glam-emodb" / "checkpoint", "glam")
    service = InferenceService.from_paths([ckpt], device="cpu")
    assert service.names() == ["glam-emodb"]


def test_interactive_threads_leave_a_core_for_the_browser():
    assert interactive_threads({}, cores=2) == 1
    assert interactive_threads({}, cores=8) == 7
    assert interactive_threads({}, cores=1) == 1
    assert interactive_threads({"SER_TORCH_THREADS": "2"}, cores=2) == 2
    # a bad value is not an error: the default stands
    assert interactive_threads({"SER_TORCH_THREADS": "0"}, cores=4) == 3
    assert interactive_threads({"SER_TORCH_THREADS": "two"}, cores=4) == 3


def test_service_applies_its_thread_count_in_the_calling_thread(ckpt_root):
    """torch's OpenMP thread count belongs to each thread (Streamlit reruns pages in new
    ones): the service sets its own in whichever thread predicts."""
    import threading

    svc = InferenceService.from_paths([ckpt_root], threads=1)
    seen: list[int] = []
    audio = Audio(waveform=torch.zeros(8000), sample_rate=16000, original_sample_rate=16000,
                  original_channels=1, name="z")

    def call():
        torch.set_num_threads(2)
        svc.predict(audio)
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    try:
        t = threading.Thread(target=call)
        t.start()
        t.join()
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


def test_label_union_uses_common_names_so_anger_and_angry_are_one_column():
    from ser_core.inference import ModelPrediction, label_union, probs_by_label

    def pred(labels, probs):
        return ModelPrediction(name="m", model="m", checkpoint="", labels=labels, probs=probs,
                               segment_probs=[probs], segment_starts_s=[0.0], segment_s=None,
                               aggregation="mean", seconds=0.0)

    a = pred(["anger", "happiness", "calm"], [0.5, 0.3, 0.2])
    b = pred(["angry", "happy"], [0.9, 0.1])
    assert label_union([a, b]) == ["angry", "happy", "calm"]
    assert probs_by_label(a) == {"angry": 0.5, "happy": 0.3, "calm": 0.2}
    assert consensus_of([a, b]).labels == label_union([a, b])
