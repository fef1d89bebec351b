"""Classify with a fitted consensus file: "not sure" in words, and the My-voice panel
(reference uploaded, kept in the session, used by the acoustic model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.conftest import wav_bytes


@pytest.fixture
def voice_env(monkeypatch, tmp_path):
    from ser_core.consensus import save_settings
    from ser_core.testing import make_tiny_checkpoint

    root = tmp_path / "ck"
    make_tiny_checkpoint(root / "glam", "glam")
    make_tiny_checkpoint(root / "acoustic_stats", "acoustic_stats", normalization=None,
                         reference_head=True)
    save_settings(root, {"method": "mean", "threshold": 0.99})  # every answer is "not sure"
    monkeypatch.setenv("SER_CHECKPOINTS_DIR", str(root))
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SER_DATA_ROOT", str(tmp_path / "no_data_here"))
    monkeypatch.setenv("SER_VAD", "off")  # generated tones, not speech (as in app_env)
    return root


def test_classify_says_not_sure_and_takes_my_voice(app, voice_env):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("speech.wav", wav_bytes(2.0), "audio/wav")).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Consensus"].endswith("(not sure)")
    assert any("Not sure" in w.value for w in at.warning)
    before = at.session_state["_prediction"][1]
    at.file_uploader(key="classify_mv_files").set_value(
        [("me.wav", wav_bytes(1.0, freq=150.0), "audio/wav")]).run()
    assert any("at least" in e.value for e in at.error)  # 1 s is not enough
    at.file_uploader(key="classify_mv_files").set_value(
        [("me.wav", wav_bytes(12.0, freq=150.0), "audio/wav")]).run()
    assert not at.exception, [e.value for e in at.exception]
    ref = at.session_state["my_voice"]
    assert ref.duration_s == pytest.approx(12.0, abs=0.1)
    after = at.session_state["_prediction"][1]
    probs = lambda p, n: np.array(next(m.probs for m in p.models if m.name == n))  # noqa: E731
    assert np.allclose(probs(before, "glam"), probs(after, "glam"))
    assert not np.allclose(probs(before, "acoustic_stats"), probs(after, "acoustic_stats"))


def test_compare_draws_the_measured_calibration(app, voice_env):
    """The Calibration tab reads consensus.json's measured block (here the shipped one)."""
    import json
    from pathlib import Path

    from ser_core.consensus import save_settings

    shipped = Path(__file__).resolve().parents[2] / "checkpoints" / "consensus.json"
    if not shipped.is_file():
        pytest.skip("no checkpoints/consensus.json shipped")
    save_settings(voice_env, json.loads(shipped.read_text()))
    at = app.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cal_pick").value == "consensus (shown)"
    rows = [d.value for d in at.dataframe if "ECE after %" in d.value.columns][0]
    assert "serct_small" in set(rows["model"]) and rows["ECE after %"].notna().all()
    at.selectbox(key="cal_pick").set_value("glam").run()
    assert not at.exception
    assert any("Chosen threshold" in c.value for c in at.caption)


def test_compare_draws_calibration_measured_on_held_out_speakers(app, voice_env):
    """consensus.json as calibrate_shipped.py writes it in its held-out-speakers mode
    (``scored`` / ``reliability`` per member), from synthetic posteriors."""
    from ser_core.consensus import save_settings
    from ser_core.training.calibration import log_probs, softmax
    from ser_core.training.heldout_calibration import consensus_settings

    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (400, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z)])
    raw = np.stack([softmax(2 * z), softmax(rng.normal(0, 1, (400, 3)))], axis=1)
    body, per_model = consensus_settings(["acoustic_stats", "glam"], ["neutral", "happy", "sad"], log_probs(raw), y,
                                         [f"s{i % 8}" for i in range(400)], [2.0, 1.0], [1.0, None])
    for name, t in (("acoustic_stats", 2.0), ("glam", 1.0)):
        per_model[name]["temperature"] = t
    body["measured"]["protocol"] = "the 8 speakers every member held back"
    save_settings(voice_env, body)
    at = app.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    rows = [d.value for d in at.dataframe if "ECE after %" in d.value.columns][0]
    assert {"acoustic_stats", "glam"} <= set(rows["model"]) and rows["ECE after %"].notna().all()
    assert any("8 speakers every member held back" in m.value for m in at.markdown)
    at.selectbox(key="cal_pick").set_value("glam").run()
    assert not at.exception, [e.value for e in at.exception]
