"""Calibration across left-out corpora (scripts/calibrate_loco.py's logic) on synthetic posteriors
whose miscalibration is known: members three times over-confident, so a temperature near 3
fitted on the other corpora must bring each corpus' ECE down; one group per corpus in the
cross-fit; the loader refuses mismatched files. No corpora, no models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser_core.training import heldout_calibration as hc
from ser_core.training import loco_calibration as lc
from ser_core.training.calibration import expected_calibration_error, softmax

LABELS = ["neutral", "happy", "sad", "angry"]
CORPORA = ["cremad", "emodb", "ravdess"]


def _write(tmp_path, corpus: str, rng, n: int = 300, overconfidence: float = 3.0,
           members=("glam", "acoustic_stats"), labels=LABELS):
    """Clips whose true class is drawn from softmax(z); each member serves softmax(3 z + noise)."""
    z = rng.normal(0, 1.2, (n, len(labels)))
    y = np.array([rng.choice(len(labels), p=p) for p in softmax(z)])
    rows = []
    for i in range(n):
        models = {m: softmax(overconfidence * z[i] + rng.normal(0, 0.3, len(labels))).round(6).tolist()
                  for m in members}
        rows.append({"uid": f"{corpus}:{i}", "speaker": f"{corpus}:s{i % 5}", "true": labels[y[i]],
                     "consensus": np.mean(list(models.values()), axis=0).tolist(), "models": models})
    path = tmp_path / f"{corpus}.json"
    path.write_text(json.dumps({"corpus": corpus, "labels": labels,
                                "trained_on": {m: ["x"] for m in members}, "rows": rows}))
    return path


def test_parts_are_halves_for_a_mask_and_one_per_group_otherwise():
    mask = np.array([True, False, True])
    a, b = hc.parts(mask)
    assert a.tolist() == [True, False, True] and b.tolist() == [False, True, False]
    groups = hc.parts(np.array(["ravdess", "cremad", "ravdess", "emodb"]))
    assert [g.tolist() for g in groups] == [[False, True, False, False], [False, False, False, True],
                                            [True, False, True, False]]


def test_each_corpus_is_calibrated_by_fits_on_the_other_corpora(tmp_path):
    rng = np.random.default_rng(0)
    pred = lc.load([_write(tmp_path, c, rng) for c in CORPORA])
    assert pred.members == ["acoustic_stats", "glam"] and pred.logp.shape == (900, 2, 4)
    res = lc.measure(pred)
    assert res["corpora"] == CORPORA and [f["scored"] for f in res["fits"]] == CORPORA
    for fit in res["fits"]:  # fitted without the scored corpus, near the true over-confidence
        assert all(2.5 < t < 3.5 for t in fit["temperatures"].values()), fit
    for name, s in res["member_scores"].items():
        for c in CORPORA:
            # served ~26 %; what is left after is the binning noise of 300 clips in 15 bins
            assert s["calibrated"][c]["ece"] < s["served"][c]["ece"] / 3, (name, c)
            assert s["calibrated"][c]["ua"] == pytest.approx(s["served"][c]["ua"])  # argmax kept
    shown = res["consensus"]["mean_calibrated_sharpened"]
    assert shown["mean"]["ece"] < res["consensus"]["mean_served"]["mean"]["ece"]
    assert len(res["threshold_cross_fitted"]["halves"]) == 3
    assert res["fit_all"]["threshold"] > 0 and set(res["fit_all"]["weights"]) == set(pred.members)
    sig = res["confidence_signals"]
    assert list(sig) == CORPORA and all(0 <= v["ece_modelled"] < 0.2 for v in sig.values())
    table = lc.markdown_table(res)
    assert "left-out emodb: UA / ECE / top share" in table and "`glam` calibrated (cross-fitted)" in table


def test_the_loader_refuses_files_that_do_not_match(tmp_path):
    rng = np.random.default_rng(1)
    a = _write(tmp_path, "cremad", rng, n=20)
    b = _write(tmp_path, "emodb", rng, n=20, members=("glam",))
    with pytest.raises(ValueError, match="labels or members differ"):
        lc.load([a, b])
    with pytest.raises(ValueError, match="at least two left-out corpora"):
        lc.load([a])
    with pytest.raises(ValueError, match="given twice"):
        lc.load([a, a])


def test_the_script_prints_the_table_and_writes_json(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "calibrate_loco", Path(__file__).resolve().parents[2] / "scripts" / "calibrate_loco.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(2)
    files = [str(_write(tmp_path, c, rng, n=120)) for c in CORPORA]
    out = tmp_path / "loco_calibration.json"
    assert mod.main(files + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "360 clips of 3 left-out corpora" in text and "not sure on ravdess" in text
    assert json.loads(out.read_text())["clips"] == 360


def test_top_label_ece_of_a_modelled_confidence():
    from ser_core.training.calibration import answer_reliability

    right = np.array([1] * 7 + [0] * 3)
    assert answer_reliability(np.full(10, 0.7), right).ece == pytest.approx(0.0)
    assert answer_reliability(np.full(10, 0.9), right).ece == pytest.approx(0.2)
    assert answer_reliability(np.r_[np.full(7, 0.95), np.full(3, 0.05)], right).ece == pytest.approx(0.05)


def test_the_readme_table_is_the_stored_measurement():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    stored = json.loads((root / "results" / "loco_calibration" / "glam_squirtlenet_balanced_acoustic_balanced.json").read_text())
    readme = (root / "README.md").read_text()
    block = readme.split("<!-- loco-calibration:begin -->\n", 1)[1].split("\n<!-- loco-calibration:end -->", 1)[0]
    assert block == lc.markdown_table(stored)
