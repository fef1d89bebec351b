"""The app with the checkpoints shipped in ``checkpoints/`` (no SER_CHECKPOINTS_DIR): Home
lists them with their measured UA, Classify predicts a real utterance with every one of them,
Compare shows their per-corpus results and confusion matrices, Explain runs each with
attention capture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ser_core.checkpoint import find_checkpoints, read_meta
from tests.app.test_pages import no_exception, texts
from tests.conftest import corpus_root

REPO = Path(__file__).resolve().parents[2]
SHIPPED = find_checkpoints(REPO / "checkpoints")
NAMES = sorted(d.name for d in SHIPPED)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHIPPED, reason="no checkpoints shipped in checkpoints/")]


@pytest.fixture
def shipped_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SER_CHECKPOINTS_DIR", raising=False)
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SER_JOBS_IDLE_EXIT", "5")


def classify_real_clip(app):
    """Run the app and drop the first Emo-DB utterance on Classify (the current clip)."""
    clip = sorted(corpus_root("emodb").rglob("*.flac"))[0]
    at = app.run(timeout=120)
    at.switch_page("app_pages/classify.py").run(timeout=120)
    at.file_uploader(key="classify_upload").set_value((clip.name, clip.read_bytes(),
                                                       "audio/flac")).run(timeout=120)
    return at


def test_home_lists_the_shipped_models_with_their_measured_ua(app, shipped_env):
    at = app.run(timeout=120)
    no_exception(at)
    table = at.dataframe[0].value
    assert sorted(table["model"]) == NAMES
    for name in NAMES:
        ua = 100 * read_meta(REPO / "checkpoints" / name).metrics["mean"]["ua"]
        assert f"{ua:.1f}" in list(table[table["model"] == name]["UA %"])


@pytest.mark.corpus
def test_classify_a_real_utterance_with_every_shipped_model(app, shipped_env):
    at = classify_real_clip(app)
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Consensus"].removesuffix(" (not sure)") in read_meta(SHIPPED[0]).labels
    shown = " ".join(h.proto.body for h in at.get("html"))  # the votes table and the bars
    for name in NAMES:
        assert name in shown


def test_compare_shows_per_corpus_results(app, shipped_env):
    at = app.run(timeout=120)
    at.switch_page("app_pages/compare.py").run(timeout=120)
    no_exception(at)
    measured = next(d.value for d in at.dataframe if "scope" in d.value.columns)
    assert set(measured["model"]) == set(NAMES)
    pooled = [n for n in NAMES if len(read_meta(REPO / "checkpoints" / n).training_corpora) > 1]
    for name in pooled:
        scopes = set(measured[measured["model"] == name]["scope"])
        assert {"per_corpus / ravdess", "per_corpus / emodb", "per_corpus / emovo"} <= scopes


@pytest.mark.corpus
def test_explain_every_shipped_model_on_a_real_utterance(app, shipped_env):
    """Explain runs each shipped model with attention capture on a real utterance; a trained
    ACRNN's alpha_t is not flat (its peak is above the uniform weight)."""
    at = classify_real_clip(app)
    at.switch_page("app_pages/explain.py").run(timeout=120)
    no_exception(at)
    for name in NAMES:
        at.selectbox(key="x_model").set_value(name).run(timeout=120)
        no_exception(at)
        body = texts(at)
        assert f"**{name}** says" in body
        if read_meta(REPO / "checkpoints" / name).model == "acrnn":
            peak = re.search(r"α = ([0-9.]+); uniform would be ([0-9.]+)", body)
            assert peak, "ACRNN's attention over time is drawn"
            assert float(peak.group(1)) > float(peak.group(2))
