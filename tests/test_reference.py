""""My voice" (ser_core/reference.py) through the inference service and the CLI, and the
calibrated, thresholded consensus of predict --json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from ser_core.audio import Audio
from ser_core.consensus import save_settings
from ser_core.errors import AudioError
from ser_core.inference import InferenceService
from ser_core.reference import SpeakerReference, takes_reference
from ser_core.testing import make_tiny_checkpoint
from ser_core.training.consensus_fit import stacking_entry

LABELS = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]


def tone(seconds, freq=200.0, sr=16000, amp=0.3):
    t = torch.arange(int(seconds * sr)) / sr
    x = amp * (torch.sin(2 * torch.pi * freq * t) + 0.3 * torch.sin(2 * torch.pi * 2 * freq * t))
    return Audio(waveform=x.float(), sample_rate=sr, original_sample_rate=sr, original_channels=1, name="t")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    make_tiny_checkpoint(root / "glam", "glam")
    make_tiny_checkpoint(root / "acoustic_stats", "acoustic_stats", normalization=None,
                         reference_head=True, meta_extra={"temperature": 2.0})
    from ser_core.checkpoint import load_checkpoint, save_checkpoint, read_meta

    model, meta = load_checkpoint(root / "acoustic_stats")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for head in (model.classifier, model.reference_classifier):
            head.linear.weight.copy_(torch.randn(head.linear.weight.shape, generator=g))
            head.scale.fill_(10.0)
    save_checkpoint(root / "acoustic_stats", model, read_meta(root / "acoustic_stats"))
    return root


def test_a_short_reference_is_refused_with_a_sentence():
    with pytest.raises(AudioError, match="at least"):
        SpeakerReference.from_audio([tone(2.0)])


def test_only_the_acoustic_model_changes_with_a_reference(root):
    svc = InferenceService.from_paths([root], device="cpu")
    ac, gl = svc.get("acoustic_stats"), svc.get("glam")
    assert takes_reference(ac) and not takes_reference(gl)
    ref = SpeakerReference.from_audio([tone(7.0, 150.0)])
    assert ref.vector_for(ac).shape == (ac.model.config.n_features,)
    clip = tone(2.5, 260.0)
    plain, mine = svc.predict(clip), svc.predict(clip, reference=ref)
    by = lambda p: {m.name: np.array(m.probs) for m in p.models}  # noqa: E731
    assert np.allclose(by(plain)["glam"], by(mine)["glam"])
    assert not np.allclose(by(plain)["acoustic_stats"], by(mine)["acoustic_stats"], atol=1e-4)


def test_the_stored_temperature_softens_the_posterior(root):
    svc = InferenceService.from_paths([root / "acoustic_stats"], device="cpu")
    clip = tone(2.0)
    calibrated = np.array(svc.predict(clip).models[0].probs)
    svc.calibrate = False
    raw = np.array(svc.predict(clip).models[0].probs)
    expect = np.exp(np.log(np.clip(raw, 1e-8, 1)) / 2.0)  # the floor the temperature was fitted with
    assert np.allclose(calibrated, expect / expect.sum(), atol=1e-5)
    assert calibrated.max() <= raw.max() + 1e-9


def test_predict_json_has_uncertain_and_threshold_and_takes_a_reference(root, tmp_path, capsys):
    from ser_core.cli import main

    save_settings(root, {"method": "stacked", "threshold": 0.99,
                         "stacking": stacking_entry(["acoustic_stats", "glam"], LABELS, np.array([1.0, 0.5]))})
    wav, ref = tmp_path / "clip.wav", tmp_path / "ref.wav"
    sf.write(wav, tone(2.0).waveform.numpy(), 16000)
    sf.write(ref, tone(8.0, 150.0).waveform.numpy(), 16000)
    assert main(["predict", str(wav), "--checkpoint", str(root), "--json", "--reference", str(ref)]) == 0
    [res] = json.loads(capsys.readouterr().out)
    assert res["uncertain"] is True and res["threshold"] == 0.99
    assert res["consensus"]["method"] == "stacked" and sum(res["consensus"]["probs"]) == pytest.approx(1, abs=1e-4)
    assert main(["predict", str(wav), "--checkpoint", str(root), "--reference", str(wav)]) == 2
    assert "at least" in capsys.readouterr().err
