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


def test_a_deep_model_with_neutral_means_sees_its_input_shifted_to_them(root, tmp_path):
    """"My voice" for a deep model: each feature bin of its input is moved by the training
    speakers' neutral mean (stored next to the checkpoint) minus the reference's mean, so the
    speaker's neutral voice lands on the training speakers' neutral voices."""
    import shutil

    from safetensors.torch import save_file

    from ser_core.features.segments import segment_waveform
    from ser_core.reference import NEUTRAL_FILE, input_bin_means

    d = tmp_path / "glam"
    shutil.copytree(root / "glam", d)
    gl = InferenceService.from_paths([d], device="cpu", vad=False).get("glam")
    voice = tone(7.0, 150.0)
    assert SpeakerReference.from_audio([voice]).shift_for(gl) is None  # no neutral means stored
    mine = input_bin_means(gl, [voice.waveform])
    assert mine["x"].shape == (1, 26)  # (channel, MFCC bin)
    save_file({"x": mine["x"] + 0.5}, str(d / NEUTRAL_FILE))

    svc = InferenceService.from_paths([d], device="cpu", vad=False)
    gl = svc.get("glam")
    ref = SpeakerReference.from_audio([voice])
    assert torch.allclose(ref.shift_for(gl)["x"], torch.full((1, 26), 0.5), atol=1e-5)
    segs = segment_waveform(tone(2.5, 260.0).waveform, 16000, gl.spec.segment_s, gl.spec.hop_s)
    moved = svc._input(gl, segs, ref) - svc._input(gl, segs)
    assert torch.allclose(moved, torch.full_like(moved, 0.5), atol=1e-5)
    plain, with_ref = svc.predict(tone(2.5, 260.0)), svc.predict(tone(2.5, 260.0), reference=ref)
    assert not np.allclose(plain.models[0].probs, with_ref.models[0].probs, atol=1e-6)


def test_a_raw_waveform_model_ignores_the_reference(tmp_path):
    from safetensors.torch import save_file

    from ser_core.reference import NEUTRAL_FILE, input_bin_means

    make_tiny_checkpoint(tmp_path / "serct", "serct")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "serct" / NEUTRAL_FILE))
    entry = InferenceService.from_paths([tmp_path], device="cpu", vad=False).get("serct")
    assert input_bin_means(entry, [tone(3.0).waveform]) is None
    assert SpeakerReference.from_audio([tone(7.0)]).shift_for(entry) is None


def test_training_speakers_of_a_shipped_and_of_a_fold_checkpoint(tmp_path):
    """What the neutral means are averaged over: a shipped checkpoint lists its training
    speakers; a training run's fold checkpoint finds them in its run's splits.json."""
    from types import SimpleNamespace

    from ser_core.reference import training_speakers

    shipped = SimpleNamespace(protocol={"speakers": {"train": ["emodb:03", "emodb:08"]}}, extra={})
    assert training_speakers(shipped) == ["emodb:03", "emodb:08"]
    (tmp_path / "splits.json").write_text(json.dumps({"folds": [
        {"name": "emodb", "speakers": {"train": ["ravdess:01"], "test": ["emodb:03"]}},
        {"name": "cremad", "speakers": {"train": ["emodb:03", "ravdess:01"], "test": ["cremad:1001"]}}]}))
    fold = SimpleNamespace(protocol={"name": "leave-one-corpus-out", "fold": "cremad"},
                           extra={"run_dir": str(tmp_path)})
    assert training_speakers(fold) == ["emodb:03", "ravdess:01"]
    assert training_speakers(SimpleNamespace(protocol={"fold": "x"}, extra={})) == []


def test_a_model_with_centred_features_ignores_the_reference(root, tmp_path):
    """A checkpoint trained with ``center_time`` removes each segment's own mean per bin, so a
    speaker's mean has nothing to shift: no neutral means are computed and none applied."""
    import shutil

    from ser_core.checkpoint import read_meta
    from ser_core.reference import input_bin_means

    d = tmp_path / "glam"
    shutil.copytree(root / "glam", d)
    data = json.loads((d / "config.json").read_text())
    data["feature"]["config"]["center_time"] = True
    (d / "config.json").write_text(json.dumps(data))
    meta = read_meta(d)
    svc = InferenceService.from_paths([d], device="cpu", vad=False)
    gl = svc.get("glam")
    clip = tone(2.5, 260.0)
    assert input_bin_means(gl, [clip.waveform]) is None
    assert SpeakerReference.from_audio([tone(7.0, 150.0)]).shift_for(gl) is None
    # the input the service prepares is centred: each bin's mean over the frames is the
    # normalisation's constant, whatever the clip's own level per bin
    from ser_core.features.segments import segment_waveform

    from ser_core.features.segments import valid_samples

    segs = segment_waveform(clip.waveform, 16000, gl.spec.segment_s, gl.spec.hop_s)
    full = valid_samples(segs) == segs.shape[-1]  # (a padded segment's mean leaves its padding out)
    assert full.sum() >= 1
    x = svc._input(gl, segs[full])
    norm = meta.normalization["inputs"]["x"]
    expected = -torch.tensor(norm["mean"]) / (torch.tensor(norm["std"]) + 1e-5)
    torch.testing.assert_close(x.mean(-1), expected.expand_as(x.mean(-1)), atol=1e-4, rtol=1e-4)
