"""``finetune`` and ``evaluate`` through the CLI on real subsets (Emo-DB -> EMOVO)."""

from __future__ import annotations

import json

import pytest
import torch

from ser_core.checkpoint import load_checkpoint
from ser_core.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.corpus]
TINY = ["--model-set", "stem_channels=4"]


@pytest.fixture(scope="module")
def glam_checkpoint(tmp_path_factory):
    from tests.conftest import corpus_root

    emodb = corpus_root("emodb")
    out = tmp_path_factory.mktemp("src") / "glam"
    rc = main(["train", "--model", "glam", "--corpus", "emodb", "--root", str(emodb),
               "--labels", "ekman7", "--folds", "2", "--max-speakers", "4",
               "--max-utterances", "16", "--epochs", "1", "--device", "cpu", "--quiet",
               "--out", str(out), *TINY])
    assert rc == 0
    return out / "checkpoint"


def test_evaluate_json_and_out(glam_checkpoint, emovo_root, tmp_path, capsys):
    rc = main(["evaluate", "--checkpoint", str(glam_checkpoint), "--corpus", "emovo",
               "--root", str(emovo_root), "--max-utterances", "12", "--json",
               "--out", str(tmp_path / "ev")])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["utterances"] == 12 and res["label_set"] == "ekman7@v1"
    assert set(res["metrics"]) >= {"wa", "ua", "weighted_f1", "macro_f1", "confusion"}
    for f in ("predictions.csv", "results.json", "run.json"):
        assert (tmp_path / "ev" / f).is_file()


def test_finetune_new_head_only_last_groups_train(glam_checkpoint, emovo_root, tmp_path, capsys):
    out = tmp_path / "ft"
    rc = main(["finetune", "--checkpoint", str(glam_checkpoint), "--corpus", "emovo",
               "--root", str(emovo_root), "--labels", "native:emovo", "--unfreeze-last", "1",
               "--folds", "2", "--max-speakers", "4", "--max-utterances", "16", "--epochs", "1",
               "--lr", "0.01", "--device", "cpu", "--quiet", "--json", "--out", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["protocol"]["trainable_groups"] == ["classifier"]
    assert res["folds"][0]["before"] is None  # new label set -> new head, no zero-shot score
    src, _ = load_checkpoint(glam_checkpoint)
    tuned, meta = load_checkpoint(out / "checkpoint")
    from ser_core.data.labels import get_label_set

    assert meta.labels == list(get_label_set("native:emovo").classes)
    assert meta.label_set == "native:emovo@v1" and meta.num_classes == 7
    assert meta.extra["finetuned_from"].endswith("checkpoint")
    assert meta.training_corpora == ["emodb", "emovo"]
    s_src, s_new = src.state_dict(), tuned.state_dict()
    for key, value in s_new.items():
        if key.startswith("classifier"):
            continue
        assert torch.equal(value, s_src[key]), f"{key} changed though frozen"
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["new_head"] is True and run["config"]["trainable_groups"] == ["classifier"]


def test_finetune_same_labels_reports_before(glam_checkpoint, emovo_root, tmp_path, capsys):
    rc = main(["finetune", "--checkpoint", str(glam_checkpoint), "--corpus", "emovo",
               "--root", str(emovo_root), "--unfreeze-last", "2", "--folds", "2",
               "--max-speakers", "4", "--max-utterances", "16", "--epochs", "1", "--device", "cpu",
               "--quiet", "--json", "--out", str(tmp_path / "ft2")])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["label_set"] == "ekman7@v1"  # the checkpoint's set maps EMOVO
    assert all(f["before"] is not None for f in res["folds"])
    assert res["summary_before"]["ua"]["mean"] >= 0


def test_finetune_needs_one_choice(glam_checkpoint, emovo_root, tmp_path, capsys):
    rc = main(["finetune", "--checkpoint", str(glam_checkpoint), "--corpus", "emovo",
               "--root", str(emovo_root), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert capsys.readouterr().err.startswith("error: choose exactly one")
