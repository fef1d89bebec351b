"""Fault injection into checkpoints: each kind of bad ``config.json`` or weights is refused
at load with a sentence, and the good checkpoint beside it keeps working."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from ser_core.inference import InferenceService
from ser_core.testing import make_tiny_checkpoint


def _edit(directory, change):
    cfg = directory / "config.json"
    meta = json.loads(cfg.read_text())
    change(meta)
    cfg.write_text(json.dumps(meta))


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _feature_param(name, value):
    return lambda m: m["feature"]["config"].__setitem__(name, value)


BAD_META = {
    "empty labels": (lambda m: (m.__setitem__("labels", []), m.__setitem__("num_classes", 0)),
                     "label list is empty"),
    "labels vs classes": (_set("labels", ["a", "b", "c"]), "3 labels for 7 classes"),
    "repeated label": (_set("labels", ["a"] * 7), "repeat"),
    "negative sample rate": (_set("sample_rate", -16000), "sample rate -16000"),
    "fractional sample rate": (_set("sample_rate", 16000.5), "sample rate 16000.5"),
    "unknown feature parameter": (_feature_param("n_bananas", 3), "n_bananas"),
    "huge n_fft": (_feature_param("n_fft", 100_000_000), "n_fft"),
    "huge n_mels": (_feature_param("n_mels", 1_000_000), "n_mels"),
    "unknown feature kind": (lambda m: m["feature"].__setitem__("kind", "nonsense"), "feature"),
    "NaN normalisation": (lambda m: m["normalization"]["inputs"].__setitem__(
        next(iter(m["normalization"]["inputs"])), {"mean": [float("nan")], "std": [1.0]}), "NaN"),
}


@pytest.fixture
def good_and_bad(tmp_path):
    root = tmp_path / "ckpts"
    make_tiny_checkpoint(root / "good", "glam")
    return root, make_tiny_checkpoint(root / "bad", "glam")


@pytest.mark.parametrize("case", list(BAD_META))
def test_a_bad_config_is_skipped_and_the_good_one_predicts(good_and_bad, case, make_wav):
    root, bad = good_and_bad
    change, sentence = BAD_META[case]
    _edit(bad, change)
    svc = InferenceService.from_paths([root], device="cpu")
    assert svc.names() == ["good"]
    (why,) = svc.failed.values()
    assert sentence in why and "CheckpointError" in why, why
    from ser_core.audio import load_audio

    pred = svc.predict(load_audio(make_wav(seconds=2.5)))
    assert np.isclose(sum(pred.models[0].probs), 1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(good_and_bad, value):
    root, bad = good_and_bad
    state = load_file(str(bad / "model.safetensors"))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value
    save_file(state, str(bad / "model.safetensors"))
    svc = InferenceService.from_paths([root], device="cpu")
    assert svc.names() == ["good"]
    assert "NaN or infinity" in next(iter(svc.failed.values()))


def test_predict_json_is_strict(good_and_bad, make_wav, capsys, monkeypatch):
    """A non-finite probability never reaches the output as ``NaN`` (invalid JSON): the
    command says what is wrong instead."""
    from ser_core.cli import main
    from ser_core.inference import ModelPrediction

    root, _ = good_and_bad
    wav = str(make_wav(seconds=2.0))
    assert main(["predict", wav, "--checkpoint", str(root), "--json"]) == 0
    json.loads(capsys.readouterr().out)  # strict parse
    real = ModelPrediction.as_dict
    monkeypatch.setattr(ModelPrediction, "as_dict",
                        lambda self: {**real(self), "probs": [float("nan")] * len(self.labels)})
    assert main(["predict", wav, "--checkpoint", str(root), "--json"]) == 2
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and captured.err.startswith("error: a model produced a non-finite")


def test_validation_passes_every_shipped_checkpoint():
    from pathlib import Path

    from ser_core.checkpoint import find_checkpoints
    from ser_core.checkpoint_checks import validate_meta

    shipped = find_checkpoints(Path(__file__).resolve().parents[2] / "checkpoints")
    assert shipped
    for d in shipped:
        validate_meta(json.loads((d / "config.json").read_text()), d)


def test_explain_looks_at_a_bounded_stretch(good_and_bad, make_wav):
    from ser_core.audio import load_audio
    from ser_core.inference import EXPLAIN_MAX_S

    root, _ = good_and_bad
    svc = InferenceService.from_paths([root / "good"], device="cpu")
    expl = svc.explain(load_audio(make_wav(seconds=EXPLAIN_MAX_S + 30)), svc.names()[0])
    assert expl.waveform.shape[-1] == int(EXPLAIN_MAX_S * 16000)
