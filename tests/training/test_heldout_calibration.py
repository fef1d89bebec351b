"""Calibrating the shipped checkpoints on held-out speakers (scripts/calibrate_shipped.py's logic):
the mode chosen from the members' training corpora, the held-out set as the intersection of
what every member held back, the acoustic refit that leaves the scored speakers out, and the
cross-fitting of temperatures and consensus weights. Synthetic posteriors, no corpora."""

from __future__ import annotations

import numpy as np
import pytest

from ser_core.data.records import Utterance
from ser_core.training import heldout_calibration as hc
from ser_core.training.calibration import log_probs, softmax
from ser_core.training.consensus_fit import cross_fitted, speaker_halves
from ser_core.training.functional_data import FunctionalTable

LABELS = ["neutral", "happy", "sad"]
ALL4 = ["ravdess", "emodb", "emovo", "cremad"]


def test_mode_follows_the_training_corpora():
    assert hc.choose_mode({"a": ALL4[:3], "b": ALL4[:3]})[0] == "cremad"
    mode, why = hc.choose_mode({"a": ALL4, "b": ALL4})
    assert mode == "heldout" and "held back" in why
    mode, why = hc.choose_mode({"a": ALL4, "b": ALL4[:3]})  # two generations of checkpoints
    assert mode == "heldout" and "a trained on CREMA-D and b did not" in why
    assert hc.choose_mode({"a": ALL4, "b": ALL4[:3]}, "heldout")[0] == "heldout"
    with pytest.raises(ValueError, match="not an unseen corpus"):
        hc.choose_mode({"a": ALL4}, "cremad")


def _part(speakers, per=4):
    rows = [(f"{s}_{i}", s, LABELS[i % 3]) for s in speakers for i in range(per)]
    return {"uids": [r[0] for r in rows], "speakers": [r[1] for r in rows],
            "labels": [r[2] for r in rows], "probs": [[1 / 3] * 3 for _ in rows]}


def test_heldout_set_is_the_intersection_of_the_members_held_back_speakers():
    a = _part(["emodb:03", "cremad:1001", "ravdess:05"])
    b = _part(["ravdess:05", "cremad:1001", "emovo:m1"])
    rows = hc.common_rows({"a": a, "b": b}, LABELS)
    assert sorted(set(rows["speakers"])) == ["cremad:1001", "ravdess:05"]
    assert rows["dropped_speakers"] == ["emodb:03", "emovo:m1"]
    assert rows["uids"][:4] == [f"cremad:1001_{i}" for i in range(4)]       # a's order
    assert rows["y"].tolist() == [0, 1, 2, 0] * 2
    with pytest.raises(ValueError, match="no utterance was held out by every member"):
        hc.common_rows({"a": _part(["emodb:03"]), "b": _part(["emovo:m1"])}, LABELS)


def test_aligned_probs_follow_the_requested_order():
    part = {"uids": ["x", "y", "z"], "probs": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    assert hc.aligned_probs(part, ["z", "x"]).tolist() == [[0, 0, 1], [1, 0, 0]]


def _table(speakers=("emodb:03", "emodb:08", "cremad:1001", "cremad:1003"), per=30, seed=0):
    rng = np.random.default_rng(seed)
    utts, X, y = [], [], []
    for s in speakers:
        corpus, spk = s.split(":")
        shift = 5.0 if s == "cremad:1001" else 0.0       # a speaker unlike the rest
        for i in range(per):
            k = i % 3
            utts.append(Utterance(uid=f"{s}_{i}", path=f"/nowhere/{s}_{i}.wav", corpus=corpus, speaker=spk,
                                  emotion=LABELS[k], label=LABELS[k]))
            X.append(rng.normal(0, 1, 4) + np.eye(4)[k] * 2 + shift)
            y.append(k)
    return FunctionalTable(utts, np.array(X), np.array(y), tuple(LABELS), {})


def test_acoustic_refit_leaves_the_scored_speakers_out():
    table = _table()
    left_out = np.isin(table.speakers, ["cremad:1001"])
    head = hc.acoustic_refit(table, left_out, {"classifier": "logreg", "C": 1.0})
    # the standardisation is learnt from the training rows only: the shifted speaker is not in it
    assert np.allclose(head.mean, table.X[~left_out].mean(axis=0))
    assert not np.allclose(head.mean, table.X.mean(axis=0), atol=0.5)
    uids = [u.uid for u, out in zip(table.utterances, left_out) if out]
    logp = hc.acoustic_log_probs(table, uids, left_out, {"classifier": "logreg", "C": 1.0})
    assert logp.shape == (30, 3) and np.allclose(np.exp(logp), softmax(head.logits(table.X[left_out])))
    with pytest.raises(ValueError, match="in the acoustic refit's training data"):
        hc.acoustic_log_probs(table, uids + ["emodb:03_0"], left_out, {"classifier": "logreg", "C": 1.0})


def _members(n=2400, seed=0):
    """Member 0: over-confident (its logits are 2x the true ones, so T = 2 fixes it);
    member 1: calibrated but unrelated to the labels."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z)])
    raw = np.stack([softmax(2 * z), softmax(rng.normal(0, 1, (n, 3)))], axis=1)
    speakers = [f"s{i % 12}" for i in range(n)]
    return raw, y, speakers


def test_cross_fit_with_fixed_temperatures_is_the_old_consensus_cross_fit():
    raw, y, speakers = _members()
    halves = speaker_halves(speakers)
    t = np.array([1.7, 1.1])
    cv = hc.cross_fit(log_probs(raw), y, halves, list(t))
    calp = softmax(log_probs(raw) / t[None, :, None])
    old, old_w = cross_fitted(log_probs(calp), y, halves)
    assert np.allclose(cv["stacked"], old, atol=1e-6) and np.allclose(cv["members"], calp)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(cv["weights"], old_w))


def test_cross_fit_fits_free_temperatures_on_the_other_half_only():
    raw, y, speakers = _members()
    halves = speaker_halves(speakers)
    cv = hc.cross_fit(log_probs(raw), y, halves, [None, 1.0])
    t_a, t_b = cv["temperatures"]               # fitted on half B (scores A), on half A (scores B)
    assert t_a[0] == pytest.approx(2.0, abs=0.35) and t_b[0] == pytest.approx(2.0, abs=0.35)
    assert t_a[0] != t_b[0] and t_a[1] == t_b[1] == 1.0
    part = halves
    assert np.allclose(cv["members"][part, 0], softmax(log_probs(raw[part, 0]) / t_a[0]))
    assert cv["weights"][0][0] > 0.5 > cv["weights"][0][1]


def test_consensus_settings_measure_out_of_sample_and_follow_the_shown_rule():
    raw, y, speakers = _members()
    body, per_model = hc.consensus_settings(["over", "noise"], LABELS, log_probs(raw), y, speakers,
                                            temperatures=[2.0, 1.0], fixed_temperatures=[None, 1.0])
    m = body["measured"]
    assert m["clips"] == len(y) and m["speakers"] == 12 and set(per_model) == {"over", "noise"}
    over = per_model["over"]["scored"]
    assert over["after"]["ece"] < over["before"]["ece"] - 0.05      # calibrated out of sample
    assert over["after"]["ua"] == pytest.approx(over["before"]["ua"])  # a temperature keeps answers
    cons = m["consensus"]
    better = cons["fitted_cross_fitted"]["ua"] > max(cons["mean_calibrated"]["ua"], cons["best_single"]["ua"])
    assert body["method"] == ("stacked" if better else "mean")
    assert cons["best_single"]["model"] == "over"
    assert body["stacking"]["weights"]["over"] > body["stacking"]["weights"]["noise"]
    assert body["threshold"] in [c["threshold"] for c in m["coverage_curve"]]
    assert len(m["half_temperatures"]) == 2 and m["half_temperatures"][0]["noise"] == 1.0


def test_report_reads_both_the_new_and_the_old_measured_layout():
    from ser_core.consensus import ConsensusSettings, calibration_text

    raw, y, speakers = _members(600)
    body, per_model = hc.consensus_settings(["over", "noise"], LABELS, log_probs(raw), y, speakers, [2.0, 1.0],
                                            [None, 1.0])
    for name, t in (("over", 2.0), ("noise", 1.0)):
        per_model[name]["temperature"] = t
    measured = {"protocol": "the speakers every member held back", **body["measured"]}
    settings = ConsensusSettings(threshold=body["threshold"], method=body["method"], measured=measured)
    text = calibration_text(settings)
    after = measured["per_model"]["over"]["scored"]["after"]
    assert f"| `over` | 2.00 | {100 * after['ua']:.1f} |" in text and "held back" in text
    old = {n: {"temperature": r["temperature"], "cremad": r["scored"]}
           for n, r in measured["per_model"].items()}
    assert calibration_text(ConsensusSettings(threshold=0.3, measured={**measured, "per_model": old}))


def test_stored_temperature_names_the_weights_it_belongs_to(tmp_path):
    import hashlib
    import json

    from ser_core.checkpoint import read_meta
    from ser_core.testing import make_tiny_checkpoint
    from ser_core.training.calibration import store_temperature, weights_sha256

    make_tiny_checkpoint(tmp_path / "glam", "glam")
    digest = weights_sha256(tmp_path / "glam")
    assert digest == hashlib.sha256((tmp_path / "glam" / "model.safetensors").read_bytes()).hexdigest()
    store_temperature(tmp_path / "glam", 1.7, {"fitted_on": "the 8 speakers every member held back"})
    meta = json.loads((tmp_path / "glam" / "config.json").read_text())
    assert meta["temperature"] == 1.7 and meta["calibration"]["weights_sha256"] == digest
    assert meta["calibration"]["fitted_on"] == "the 8 speakers every member held back"
    assert weights_sha256(tmp_path / "glam") == digest and read_meta(tmp_path / "glam").model == "glam"


def test_the_mean_consensus_temperature_restores_its_calibration():
    from ser_core.consensus import ConsensusSettings, settle_consensus
    from ser_core.predictions import Consensus
    from ser_core.training.calibration import expected_calibration_error

    rng = np.random.default_rng(0)
    n, K = 3000, 3
    y = rng.integers(0, K, n)
    sharp = rng.normal(0, 1, (n, K))
    sharp[np.arange(n), y] += 2.0
    truth = softmax(sharp)                       # calibrated by construction: y ~ truth
    y = np.array([rng.choice(K, p=p) for p in truth])
    mean = softmax(log_probs(truth) / 3.0)       # an averaged consensus: too flat
    t = hc.mean_temperature(mean, y)
    assert 0.25 < t < 0.45                       # recovers about 1/3
    fixed = softmax(log_probs(mean) / t)
    assert expected_calibration_error(fixed, y) < 0.03 < expected_calibration_error(mean, y)
    from types import SimpleNamespace

    def consensus():
        return Consensus(labels=LABELS, probs=[0.4, 0.35, 0.25], votes={l: 0 for l in LABELS},
                         agreement=0.0)

    settings = ConsensusSettings(threshold=0.45, mean_temperature=0.5, measured={"members": ["a", "b"]})
    both = [SimpleNamespace(name="a"), SimpleNamespace(name="b")]
    # only the mean of the members it was fitted on is sharpened
    alone = settle_consensus(consensus(), both[:1], settings)
    assert alone.probs == [0.4, 0.35, 0.25] and alone.mean_probs is None and alone.uncertain is True
    cons = consensus()
    out = settle_consensus(cons, both, settings)
    assert out.top == "neutral" and out.probs[0] == pytest.approx(0.16 / (0.16 + 0.1225 + 0.0625))
    assert out.mean_probs == [0.4, 0.35, 0.25] and out.uncertain is False  # 0.46 >= 0.45 > 0.4
