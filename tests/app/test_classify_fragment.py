"""Classify's result area is a fragment: a control inside it reruns that area alone, and the
models never run twice for one clip.

AppTest always reruns the whole script when a widget changes; a browser sends a rerun scoped
to the fragment that holds the widget instead. :func:`fragment_rerun` makes AppTest's next
run that scoped rerun (the ``RerunData`` the browser's message becomes), so the test sees what
a user's click costs on the server.
"""

from __future__ import annotations

import contextlib
import functools

import pytest

from tests.app.test_pages import no_exception


@contextlib.contextmanager
def fragment_rerun(at, monkeypatch):
    """Within the block, ``.run()`` reruns only the fragments the last run registered."""
    from streamlit.testing.v1 import local_script_runner

    ids = sorted(at._fragment_storage.ids_registered_after(-1))
    assert ids, "the page registered no fragment"
    with monkeypatch.context() as m:
        m.setattr(local_script_runner, "RerunData",
                  functools.partial(local_script_runner.RerunData, fragment_id_queue=ids))
        yield


def timeline_spec(at) -> str:
    shown = [h.proto.body for h in at.get("html") if "segments every" in h.proto.body]
    assert len(shown) == 1, "one timeline on the page"
    return shown[0]


@pytest.fixture
def calls(monkeypatch):
    """Counts of the models' runs and of the clip picker's (the page's upper part) runs."""
    import ui.widgets
    from ser_core.inference import InferenceService

    counts = {"predict": 0, "picker": 0}

    def counted(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(InferenceService, "predict", counted("predict", InferenceService.predict))
    monkeypatch.setattr(ui.widgets, "clip_picker", counted("picker", ui.widgets.clip_picker))
    return counts


def test_timeline_model_picker_reruns_only_the_result_area(app, app_env, wav, calls, monkeypatch):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("long.wav", wav(8.0), "audio/wav")).run()
    no_exception(at)
    assert calls["predict"] == 1
    # a full rerun (another control, a page switch back) computes nothing again either
    at.selectbox(key="timeline_model").set_value("acrnn").run()
    no_exception(at)
    assert calls["predict"] == 1
    picker_runs = calls["picker"]

    sel = at.selectbox(key="timeline_model")
    assert "glam" in sel.options and "every 3 s" in timeline_spec(at)  # acrnn's 3 s segments
    with fragment_rerun(at, monkeypatch):
        sel.set_value("glam").run()
    no_exception(at)
    assert calls["predict"] == 1 and calls["picker"] == picker_runs  # upper part not rerun
    assert at.selectbox(key="timeline_model").value == "glam"
    assert "2 s segments every 0.4 s" in timeline_spec(at)  # drawn by the fragment's rerun
    assert "Models agreeing" in {m.label for m in at.metric}

    # AppTest's tree now holds only what the fragment drew: a full rerun brings the page back,
    # still without running the models; a new clip runs them once
    at.run()
    no_exception(at)
    assert calls["predict"] == 1 and calls["picker"] == picker_runs + 1
    # the uploader is empty again under a new key (ui.widgets._uploader): one run per drop
    assert at.file_uploader(key="classify_upload_1").value is None
    at.file_uploader(key="classify_upload_1").set_value(("other.wav", wav(7.0, freq=300.0), "audio/wav")).run()
    no_exception(at)
    assert calls["predict"] == 2 and calls["picker"] > picker_runs


def test_a_clip_just_over_3_s_gets_no_padding_segment_on_the_timeline(app, app_env, wav):
    """3.01 s in 3 s segments used to give a second segment of 10 ms and 2.99 s of zero
    padding, shown on the timeline with an answer of its own; only GLAM's overlapping 2 s
    windows (every 0.4 s) are more than one segment now."""
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("edge.wav", wav(3.01), "audio/wav")).run()
    no_exception(at)
    pred = at.session_state["_prediction"][1]
    assert {m.name: len(m.segment_probs) for m in pred.models} == {
        "acrnn": 1, "glam": 4, "parallel_cnn_transformer": 1, "serct": 1}
    assert at.selectbox(key="timeline_model").options == ["glam"]
