"""CheckpointMeta: JSON round trip, older and odd config.json files."""

from __future__ import annotations

import json

import pytest

from ser_core.checkpoint import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from ser_core.errors import CheckpointError
from ser_core.models import create_model, model_class

LABELS = ["neutral", "happy", "sad", "angry"]


def _written(tmp_path, body: dict):
    d = tmp_path / "ck"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"")
    (d / "config.json").write_text(json.dumps(body))
    return d


def test_round_trip_keeps_typed_fields_and_extra(tmp_path):
    meta = CheckpointMeta.for_model("glam", LABELS, model_class("glam").input_spec,
                                    label_set="test", metrics={"mean": {"ua": 0.5}},
                                    extra={"recipe": {"lr": 1e-3}})
    back = CheckpointMeta.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert back == meta and back.extra == {"recipe": {"lr": 1e-3}}
    assert back.feature.config["n_mfcc"] == 26  # resolved: every field written out


def test_a_checkpoint_without_input_spec_gets_its_model_class_defaults(tmp_path):
    """Hand-made or older checkpoints: no format_version, input_spec or feature."""
    net = create_model("glam", len(LABELS))
    d = tmp_path / "old"
    save_checkpoint(d, net, CheckpointMeta.for_model("glam", LABELS, type(net).input_spec,
                                                     model_config=net.config_dict()))
    body = json.loads((d / "config.json").read_text())
    for key in ("format_version", "input_spec", "feature", "sample_rate", "weights_dtype"):
        body.pop(key)
    (d / "config.json").write_text(json.dumps(body))
    model, meta = load_checkpoint(d)
    assert meta.input_spec == model_class("glam").input_spec and meta.sample_rate == 16000
    assert meta.feature.kind == "mfcc" and meta.format_version == 1


@pytest.mark.parametrize("body, says", [
    ({"labels": LABELS}, "lacks model, num_classes"),
    ({"model": "glam", "num_classes": 3, "labels": LABELS}, "4 labels for 3 classes"),
    ({"model": "glam", "num_classes": 4, "labels": LABELS, "format_version": 9},
     "format 9"),
    ({"model": "no_such_model", "num_classes": 4, "labels": LABELS}, "Unknown model"),
    ({"model": "glam", "num_classes": 4, "labels": LABELS,
      "input_spec": {"feature": "mfcc", "aggregation": "median"}}, "input_spec is not valid"),
])
def test_odd_config_files_get_a_clear_message(tmp_path, body, says):
    d = _written(tmp_path, body)
    with pytest.raises(CheckpointError, match=says):
        read_meta(d)


def test_a_config_that_is_not_an_object_is_refused(tmp_path):
    d = _written(tmp_path, {})
    (d / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="no JSON object"):
        read_meta(d)


def test_find_checkpoints_follows_symlinked_folders_once_and_skips_hidden_ones(tmp_path):
    """A trained run's checkpoint linked into ``checkpoints/`` is found (``Path.rglob`` skipped
    symlinked folders before Python 3.13); a link cycle ends; hidden (temporary) folders are not
    checkpoints."""
    from ser_core.checkpoint import find_checkpoints
    from ser_core.testing import make_tiny_checkpoint

    run = make_tiny_checkpoint(tmp_path / "runs" / "glam" / "checkpoint", "glam")
    shipped = tmp_path / "checkpoints"
    make_tiny_checkpoint(shipped / "acrnn", "acrnn")
    make_tiny_checkpoint(shipped / ".tmp-acrnn", "acrnn")
    (shipped / "mine").symlink_to(run, target_is_directory=True)
    (shipped / "loop").symlink_to(shipped, target_is_directory=True)
    assert find_checkpoints(shipped) == [shipped / "acrnn", shipped / "mine"]
    assert find_checkpoints(tmp_path / "missing") == []
