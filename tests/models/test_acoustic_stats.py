"""acoustic_stats: a scikit-learn fit copied into tensors gives the same logits, survives the
checkpoint format (safetensors + JSON) and runs in the inference service; the my-voice head."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ser_core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from ser_core.models import create_model
from ser_core.training.acoustic_fit import fit_head


def _data(n=300, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(0, 3, (k, d))
    X = centres[y] + rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 20, d)  # unequal scales
    return X, y


@pytest.mark.parametrize("classifier", ["logreg", "linear_svm"])
def test_torch_logits_equal_the_fitted_linear_map(classifier, tmp_path):
    X, y = _data()
    head = fit_head(X, y, 4, classifier, C=1.0)  # class 3 never seen: never predicted
    model = create_model("acoustic_stats", 4, n_features=X.shape[1], classifier=classifier)
    model.set_head(head.mean, head.scale, head.weight, head.bias)
    got = model(torch.tensor(X, dtype=torch.float32)).detach().numpy()
    assert np.allclose(got, head.logits(X), atol=1e-3)
    assert (got.argmax(1) == y).mean() > 0.9 and (got.argmax(1) != 3).all()
    meta = CheckpointMeta.for_model("acoustic_stats", list("abcd"), type(model).input_spec,
                                    model_config=model.config_dict())
    save_checkpoint(tmp_path / "ck", model, meta)
    with safe_open(str(tmp_path / "ck" / "model.safetensors"), "pt") as fh:
        assert {"classifier.mean", "classifier.scale", "classifier.linear.weight",
                "classifier.linear.bias"} <= set(fh.keys())
    json.loads((tmp_path / "ck" / "config.json").read_text())
    again, _ = load_checkpoint(tmp_path / "ck")
    assert np.allclose(again(torch.tensor(X, dtype=torch.float32)).detach().numpy(), got, atol=1e-5)


def test_the_reference_head_takes_functionals_relative_to_the_speaker():
    X, y = _data()
    model = create_model("acoustic_stats", 3, n_features=X.shape[1], reference_head=True)
    plain, ref = fit_head(X, y, 3), fit_head(X - 5.0, y, 3)
    model.set_head(plain.mean, plain.scale, plain.weight, plain.bias)
    model.set_head(ref.mean, ref.scale, ref.weight, ref.bias, reference=True)
    x = torch.tensor(X, dtype=torch.float32)
    out = model({"x": x, "reference": torch.full((X.shape[1],), 5.0)}).detach().numpy()
    assert np.allclose(out, ref.logits(X - 5.0), atol=1e-3)
    assert torch.allclose(model({"x": x}), model(x))
    without = create_model("acoustic_stats", 3, n_features=X.shape[1])
    with pytest.raises(ValueError, match="reference"):
        without({"x": x, "reference": torch.zeros(X.shape[1])})


def test_corpus_balance_stops_a_corpus_cue_from_standing_in_for_the_class():
    """Corpus a (900 clips) is 90 % class 0, corpus b (100 clips) 90 % class 1, and feature 1
    tells the corpora apart: class-balanced, the corpus feature predicts the class and gets a
    large weight; balanced over corpora within each class it carries no class information."""
    from ser_core.training.acoustic_fit import fit_rows
    from ser_core.training.functional_data import FunctionalTable

    rng = np.random.default_rng(0)
    corpora = np.array(["a"] * 900 + ["b"] * 100)
    y = np.concatenate([(rng.random(900) < 0.1), (rng.random(100) < 0.9)]).astype(int)
    X = np.stack([y + rng.normal(0, 1.0, 1000),                       # the class, noisy
                  (corpora == "b") + rng.normal(0, 0.05, 1000)], 1)   # the corpus, clean
    utts = [SimpleNamespace(corpus=c, speaker_key=f"{c}:1") for c in corpora]
    table = FunctionalTable(utts, X, y, ("c0", "c1"), {})
    everything = np.ones(1000, bool)
    plain = fit_rows(table, everything, "logreg", 1.0, "class")
    balanced = fit_rows(table, everything, "logreg", 1.0, "corpus")
    corpus_weight = lambda h: abs(h.weight[1, 1] - h.weight[0, 1])  # noqa: E731
    assert corpus_weight(plain) > 1.0
    assert corpus_weight(balanced) < 0.25 * corpus_weight(plain)
    with pytest.raises(ValueError, match="balance"):
        fit_rows(table, everything, "logreg", 1.0, "speaker")
