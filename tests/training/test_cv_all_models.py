"""A 2-fold speaker-independent CV of every registered model, end to end through the CLI, on a
small real subset of Emo-DB (4 speakers, 16 utterances, 1 epoch, tiny model configs)."""

from __future__ import annotations

import csv
import json

import pytest

from ser_core.cli import main
from ser_core.models import list_models, model_class
from tests.training.conftest import tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.corpus]

RUN_FILES = ("run.json", "progress.jsonl", "splits.json", "results.json", "history.json",
             "predictions.csv", "predictions.json", "checkpoint/model.safetensors",
             "checkpoint/config.json")


def model_set_args(name: str) -> list[str]:
    args = []
    for key, value in tiny_config(name).items():
        args += ["--model-set", f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}"]
    return args


@pytest.mark.parametrize("name", [n for n in list_models() if model_class(n).fitted_by is None])
def test_two_fold_cv_end_to_end(name, emodb_root, tmp_path, capsys):
    out = tmp_path / name
    rc = main(["train", "--model", name, "--corpus", "emodb", "--root", str(emodb_root),
               "--protocol", "speaker-kfold", "--folds", "2", "--max-speakers", "4",
               "--max-utterances", "16", "--epochs", "1", "--batch-size", "8", "--device", "cpu",
               "--out", str(out), "--json", "--quiet", *model_set_args(name)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    for f in RUN_FILES:
        assert (out / f).is_file(), f"{f} missing"
    results = json.loads((out / "results.json").read_text())
    assert results == printed
    assert len(results["folds"]) == 2 and results["status"] == "ok"
    for key in ("wa", "ua", "weighted_f1", "macro_f1"):
        assert 0.0 <= results["summary"][key]["mean"] <= 1.0
    # the two folds' test speakers are disjoint from their training/validation speakers
    split = json.loads((out / "splits.json").read_text())
    assert split["speaker_independent"] and len(split["folds"]) == 2
    for fold in split["folds"]:
        sp = fold["speakers"]
        assert not set(sp["test"]) & (set(sp["train"]) | set(sp["val"]))
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(rows) == sum(len(f["test"]) for f in split["folds"])
    meta = json.loads((out / "checkpoint" / "config.json").read_text())
    assert meta["model"] == name and meta["labels"] == results["labels"]
    assert meta["feature"]["kind"] == meta["input_spec"]["feature"]
    assert "Burkhardt" in meta["corpora"][0]["citation"]
    events = [json.loads(l)["event"] for l in open(out / "progress.jsonl")]
    assert events[0] == "run_start" and events[-1] == "run_end"
    assert events.count("fold_end") == 2 and "epoch_end" in events


def test_results_directory_has_everything(emodb_root, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "glam", "--corpus", "emodb", "--root", str(emodb_root),
            "--folds", "2", "--max-speakers", "4", "--max-utterances", "16", "--epochs", "2",
            "--seed", "3", "--augment", "awgn", "--mixup", "0.5", "--save-fold-checkpoints",
            "--quiet",
            "--out", str(out), "--model-set", "stem_channels=4"]
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok" and run["argv"][0] == "train"
    assert "--seed" in run["argv"] and run["command"].startswith("python -m ser_core train")
    cfg = run["config"]
    assert cfg["seed"] == 3 and cfg["model"] == "glam" and cfg["model_config"]["stem_channels"] == 4
    assert cfg["recipe"]["augment"] == "awgn" and cfg["recipe"]["lr"] == 1e-4
    assert cfg["recipe"]["mixup_alpha"] == 0.5 and "--mixup" in run["argv"]
    assert cfg["protocol"] == "speaker-kfold" and cfg["protocol_params"]["k"] == 2
    assert cfg["label_set"]["tables"]["emodb"]["boredom"] == "boredom"
    assert cfg["split_fingerprint"] == json.loads((out / "splits.json").read_text())["fingerprint"]
    env = run["environment"]
    assert env["git"]["commit"] and env["versions"]["torch"] and env["versions"]["scikit-learn"]
    corpus = run["corpora"][0]
    assert corpus["name"] == "emodb" and corpus["files"] == 535 and corpus["citation"]
    results = json.loads((out / "results.json").read_text())
    fold = results["folds"][0]
    assert {"test", "val", "best_epoch", "stop_reason", "speakers", "train_seconds"} <= set(fold)
    assert len(fold["test"]["confusion"]) == len(results["labels"])
    assert {"mean", "std", "values"} <= set(results["summary"]["ua"])
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and all(len(h) >= 1 for h in history.values())
    for f in results["folds"]:
        assert (out / "folds" / f["fold"] / "config.json").is_file()
    meta = json.loads((out / "checkpoint" / "config.json").read_text())
    for key in ("model", "model_config", "num_classes", "labels", "label_set", "sample_rate",
                "feature", "input_spec", "normalization", "corpora", "training_corpora",
                "protocol", "metrics", "confusion_matrix", "versions", "recipe"):
        assert key in meta, key
    assert meta["metrics"]["mean"]["ua"] == pytest.approx(results["summary"]["ua"]["mean"])
    assert len(meta["metrics"]["folds"]) == 2
    # the same command with the same seed reproduces the split and the numbers
    out2 = tmp_path / "again"
    assert main([*argv[:-3], str(out2), "--model-set", "stem_channels=4"]) == 0
    again = json.loads((out2 / "results.json").read_text())
    assert again["summary"]["ua"]["values"] == results["summary"]["ua"]["values"]
    assert json.loads((out2 / "splits.json").read_text())["fingerprint"] == cfg["split_fingerprint"]


def test_corpus_balanced_training_runs_on_two_corpora(emodb_root, emovo_root, tmp_path):
    """``--balance corpus_sampler`` end to end: the trainer gets each utterance's corpus from
    the protocol, and the run records the recipe it trained with."""
    out = tmp_path / "run"
    argv = ["train", "--model", "glam", "--corpus", "emodb,emovo",
            "--root", f"{emodb_root},{emovo_root}", "--labels", "ekman7", "--folds", "2",
            "--max-speakers", "4", "--max-utterances", "12", "--epochs", "1",
            "--balance", "corpus_sampler", "--quiet", "--out", str(out),
            "--model-set", "stem_channels=4"]
    assert main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok" and run["config"]["recipe"]["balance"] == "corpus_sampler"
    meta = json.loads((out / "checkpoint" / "config.json").read_text())
    assert meta["recipe"]["balance"] == "corpus_sampler"
    assert meta["training_corpora"] == ["emodb", "emovo"]
