"""Leave-one-corpus-out scores: speaker bootstrap with known answers, the table, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ser_core import loco


def _speakers_all_right_or_all_wrong(n_speakers: int, per: int, n_classes: int = 4):
    """Half the speakers entirely right, half entirely wrong; classes balanced per speaker."""
    y, p, spk = [], [], []
    for s in range(n_speakers):
        for i in range(per):
            c = i % n_classes
            y.append(c)
            p.append(c if s % 2 == 0 else (c + 1) % n_classes)
            spk.append(f"c:{s}")
    return np.array(y), np.array(p), spk


def test_speaker_bootstrap_matches_the_binomial_interval_over_speakers():
    # UA of a resample = share of drawn speakers that are "right" (each speaker balanced over
    # classes): a mean of n Bernoulli(0.5) draws -> 0.5 +- 1.96 * sqrt(0.25 / n).
    n = 100
    y, p, spk = _speakers_all_right_or_all_wrong(n, per=20)
    lo, hi = loco.speaker_bootstrap(y, p, spk, 4, n_boot=4000, seed=1)["ua"]
    half = 1.96 * np.sqrt(0.25 / n)
    assert lo == pytest.approx(0.5 - half, abs=0.02) and hi == pytest.approx(0.5 + half, abs=0.02)
    # resampling utterances instead would be ~4.5x narrower (2,000 utterances): not what we do
    assert hi - lo > 3 * (2 * 1.96 * np.sqrt(0.25 / len(y)))


def test_speaker_bootstrap_is_a_point_when_every_speaker_is_the_same():
    y = np.array([0, 1, 2, 0, 1, 2] * 10)
    p = np.array([0, 1, 0, 0, 1, 0] * 10)   # same per-speaker confusion for all 10 speakers
    spk = [f"c:{i // 6}" for i in range(len(y))]
    ci = loco.speaker_bootstrap(y, p, spk, 3, n_boot=200)
    assert ci["ua"] == pytest.approx((2 / 3, 2 / 3))
    assert ci["macro_f1"][0] == pytest.approx(ci["macro_f1"][1])


def test_scores_ua_f1_top_share_and_absent_class_predictions():
    labels = ["neutral", "happy", "sad", "surprise"]
    y = [0, 0, 1, 1, 2, 2]                                   # no surprise in the truth
    probs = np.eye(4)[[2, 0, 1, 3, 2, 2]]                    # one prediction of surprise
    s = loco.scores(y, probs, labels, ["a:1", "a:1", "a:2", "a:2", "a:3", "a:3"], n_boot=50)
    assert s["ua"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert s["wa"] == pytest.approx(4 / 6)
    assert s["classes_present"] == ["neutral", "happy", "sad"] and s["chance_ua"] == pytest.approx(1 / 3)
    assert s["top_share_pred"] == pytest.approx(3 / 6) and s["top_share_true"] == pytest.approx(2 / 6)
    assert s["top_class_pred"] == "sad"
    # sklearn's macro F1 over the classes in truth or prediction gives the same number
    from sklearn.metrics import f1_score

    assert s["macro_f1"] == pytest.approx(f1_score(y, probs.argmax(1), average="macro"))
    assert s["ua_ci95"][0] <= s["ua"] <= s["ua_ci95"][1]
    table = loco.markdown_table([{"corpus": "x", "speakers": 3, "utterances": 6, "consensus": s,
                                  "models": {"m": s}}])
    assert "| **consensus** | 66.7 [" in table and "`m`" in table and "50.0 / 33.3" in table


class _FakeModel:
    def __init__(self, name, corpora):
        self.name, self.meta = name, {"corpora": [{"name": c} for c in corpora]}


class _FakeService:
    vad, trim, min_fill = True, True, 0.5

    def __init__(self, models):
        self.models = models


def test_a_model_that_trained_on_the_corpus_is_refused():
    from ser_core.errors import ConfigError

    svc = _FakeService([_FakeModel("a", ["ravdess"]), _FakeModel("b", ["ravdess", "cremad"])])
    with pytest.raises(ConfigError, match="b trained on cremad"):
        loco.evaluate_left_out(svc, [object()], "cremad")
    # a leave-one-corpus-out fold's checkpoint lists the left-out corpus, but not as trained on
    left_out = _FakeModel("c", ["ravdess"])
    left_out.meta["corpora"].append({"name": "cremad", "role": "test"})
    assert loco.trained_on(_FakeService([left_out])) == {"c": {"ravdess"}}
    left_out.meta["training_corpora"] = ["ravdess", "emodb"]
    assert loco.trained_on(_FakeService([left_out])) == {"c": {"ravdess", "emodb"}}


def test_readme_loco_table_is_the_stored_results():
    import re
    from pathlib import Path

    results = loco.load_results()
    assert results, "results/loco/ holds no left-out-corpus result"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"<!-- loco:begin -->\n(.*?)\n<!-- loco:end -->", readme, re.S)
    assert block, "README.md lacks the <!-- loco:begin/end --> block"
    assert block.group(1).strip() == loco.markdown_table(results).strip(), \
        "README table is stale: paste `python -m ser_core report --loco` between the markers"
    for r in results:  # the shipped models never trained on the corpus they are tested on
        assert all(r["corpus"] not in trained for trained in r["trained_on"].values())


@pytest.fixture
def models_without_cremad(tmp_path_factory, emodb_root, emovo_root):
    """Two tiny checkpoints trained (one epoch) on Emo-DB + EMOVO: CREMA-D is left out for
    them (the shipped checkpoints trained on all four corpora, so none of them can be)."""
    from ser_core.cli import main

    out = tmp_path_factory.mktemp("loco-models")
    common = ["--corpus", "emodb,emovo", "--root", f"{emodb_root},{emovo_root}", "--labels", "ekman7",
              "--protocol", "final", "--max-utterances", "120", "--epochs", "1", "--device", "cpu",
              "--quiet"]
    runs = {"glam": ["--model-set", "stem_channels=4", "--model-set", "n_blocks=2"],
            "squirtlenet": ["--model-set", "conv_channels=[4,4,4]", "--model-set", "fc_dims=[16,8]"]}
    for model, size in runs.items():
        assert main(["train", "--model", model, *size, *common, "--out", str(out / model)]) == 0
    return [out / m / "checkpoint" for m in runs]


@pytest.mark.corpus
@pytest.mark.slow
def test_loco_command_on_left_out_cremad(cremad_root, models_without_cremad, tmp_path, capsys):
    import json

    from ser_core.cli import main

    ckpts = models_without_cremad
    out = tmp_path / "cremad.json"
    args = ["loco", "--corpus", "cremad", "--root", str(cremad_root), "--max-utterances", "46",
            "--bootstrap", "200", "--out", str(out), "--predictions", str(tmp_path / "pred.json")]
    for c in ckpts:
        args += ["--checkpoint", str(c)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "left-out cremad: 46 clips, 46 speakers" in text and "**consensus**" in text
    res = json.loads(out.read_text())
    c = res["consensus"]
    assert c["classes_present"] == ["neutral", "happy", "sad", "angry", "fear", "disgust"]
    assert c["n"] == 46 and sum(map(sum, c["confusion_counts"])) == 46
    assert c["ua_ci95"][0] <= c["ua"] <= c["ua_ci95"][1]
    assert sorted(res["models"]) == ["glam", "squirtlenet"] and "predictions" not in res
    pred = json.loads((tmp_path / "pred.json").read_text())  # every clip, every member, for calibrate_loco
    assert pred["corpus"] == "cremad" and len(pred["rows"]) == 46 and sorted(pred["trained_on"]) == ["glam", "squirtlenet"]
    row = pred["rows"][0]
    assert sorted(row["models"]) == ["glam", "squirtlenet"] and len(row["consensus"]) == len(pred["labels"])
    assert abs(sum(row["models"]["glam"]) - 1) < 1e-4 and row["true"] in pred["labels"]
    # a corpus the models trained on is refused
    assert main(["loco", "--corpus", "emodb", "--root", str(cremad_root.parent / "emodb"),
                 "--checkpoint", str(ckpts[0])]) == 2
    assert "trained on emodb" in capsys.readouterr().err
