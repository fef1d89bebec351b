"""Every page under Streamlit's AppTest: it loads without an exception and its main
interaction works (upload, record, change a feature parameter, submit a job, ...)."""

from __future__ import annotations

import re

import pytest

PAGES = ["app_pages/classify.py", "app_pages/live.py", "app_pages/features.py", "app_pages/explain.py",
         "app_pages/compare.py", "app_pages/train.py", "app_pages/datasets.py"]


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + \
            [e.value for e in at.info] + [e.value for e in at.warning] + [e.value for e in at.error] + \
            [e.value for e in at.success]
    return "\n".join(str(p) for p in parts)


def with_demo_clip(at, page: str):
    """Open ``page`` and make the demo clip current with the picker's button."""
    at.switch_page(page).run()
    at.button(key="side_demo").click().run()
    no_exception(at)
    assert at.session_state["current_clip"].source == "demo"
    return at


def test_home_lists_installed_models_and_device(app, app_env):
    at = app.run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Models loaded"] == "4" and metrics["Device"] in ("CPU", "GPU")
    table = at.dataframe[0].value
    assert list(table["model"]) == ["acrnn", "glam", "parallel_cnn_transformer", "serct"]
    assert "58.0" in list(table["UA %"])  # measured UA from acrnn's metadata
    assert "synthetic" in list(table["trained on"])


def test_home_switches_the_inference_backend(app, app_env):
    at = app.run()
    no_exception(at)
    ctl = at.get("button_group")[0]
    assert "auto" in str(ctl.proto) and "onnxruntime" in str(ctl.proto)
    ctl.set_value("onnxruntime").run()
    no_exception(at)
    shown = " ".join(c.value for c in at.caption)
    assert "Models run on:" in shown and "· torch" not in shown and "· onnxruntime" in shown
    at.get("button_group")[0].set_value("onnxruntime-int8").run()
    no_exception(at)
    shown = " ".join(c.value for c in at.caption)  # the test checkpoints have no int8 calibration
    assert "· onnxruntime" in shown and "These run their float32 graph" in shown and "export int8" in shown
    at.get("button_group")[0].set_value("torch").run()
    assert "· onnxruntime" not in " ".join(c.value for c in at.caption)


def test_app_loads_its_models_with_the_configured_thread_count(app, app_env, monkeypatch):
    import streamlit as st

    from ui.state import service

    monkeypatch.setenv("SER_TORCH_THREADS", "3")
    st.cache_resource.clear()  # load the service again, as a fresh server would
    no_exception(app.run())
    assert service().threads == 3


@pytest.mark.parametrize("page", [None] + PAGES)
def test_every_page_says_when_no_models_are_installed(app, empty_env, page):
    at = app.run()
    if page:
        at.switch_page(page).run()
    no_exception(at)
    if page in (None, "app_pages/classify.py", "app_pages/explain.py", "app_pages/compare.py", "app_pages/live.py"):
        assert "No trained models are installed" in texts(at)


def test_classify_upload_shows_every_model(app, app_env, wav):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    no_exception(at)
    at.file_uploader(key="classify_upload").set_value(("speech.wav", wav(2.0), "audio/wav")).run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Consensus"] in ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
    assert metrics["Models agreeing"].endswith("of 4")
    shown = " ".join(h.proto.body for h in at.get("html"))  # consensus, votes, every model's bars
    table = next(h.proto.body for h in at.get("html") if 'class="serv"' in h.proto.body)
    models = re.findall(r'<td class="model" title="([^"]+)"', table)
    assert models == ["acrnn", "glam", "parallel_cnn_transformer", "serct"]
    answers = re.findall(r'</span>([a-z]+)</td>', table)
    assert len(answers) == 4 and set(answers) <= {"neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"}
    assert 'alt="waveform, 2.00 s"' in shown  # the clip card's SVG waveform
    assert shown.count('class="serp"') == 5 and all(f'class="name">{m}<' in shown for m in models)


def test_classify_uploader_is_empty_again_after_a_drop(app, app_env, wav):
    """A file dropped on an uploader that still holds the previous one makes the frontend
    remove the old file first, and that removal reran the page: the accepted file's uploader
    is drawn again empty, under a new key, and the next file there becomes the clip."""
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("first.wav", wav(2.0), "audio/wav")).run()
    no_exception(at)
    assert at.session_state["current_clip"].audio.name == "first.wav"
    assert [u.key for u in at.get("file_uploader")][:1] == ["classify_upload_1"]
    assert at.file_uploader(key="classify_upload_1").value is None
    assert "**first\\.wav**" in texts(at)  # the clip card still names the file
    at.file_uploader(key="classify_upload_1").set_value(("second.wav", wav(2.5, freq=300.0), "audio/wav")).run()
    no_exception(at)
    assert at.session_state["current_clip"].audio.name == "second.wav"
    # the sidebar names the clip the page just took, not the one before
    assert any("Current clip: **second.wav** · 2.5 s · upload" in c.value for c in at.sidebar.caption)
    assert at.file_uploader(key="classify_upload_2").value is None


def test_classify_says_when_a_clip_has_no_speech(app, app_env, wav, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("SER_VAD", "on")
    st.cache_resource.clear()  # the loaded service keeps its VAD setting
    try:
        at = app.run()
        at.switch_page("app_pages/classify.py").run()
        at.file_uploader(key="classify_upload").set_value(("tone.wav", wav(3.0), "audio/wav")).run()
        no_exception(at)
        assert "No speech was found" in texts(at)
        assert "Consensus" not in {m.label for m in at.metric}
    finally:
        st.cache_resource.clear()


def test_classify_long_clip_has_a_timeline(app, app_env, wav):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("long.wav", wav(8.0), "audio/wav")).run()
    no_exception(at)
    sel = at.selectbox(key="timeline_model")
    assert "acrnn" in sel.options
    sel.set_value("acrnn").run()
    no_exception(at)


def test_classify_record_with_audio_input(app, app_env, wav):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.audio_input(key="classify_mic").set_value(("x.wav", wav(1.5, freq=240.0), "audio/wav")).run()
    no_exception(at)
    clip = at.session_state["current_clip"]
    assert clip.source == "microphone" and clip.audio.duration_s == pytest.approx(1.5, abs=0.01)
    assert "Consensus" in [m.label for m in at.metric]


def test_classify_bad_audio_shows_the_sentence_not_a_traceback(app, app_env):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("broken.wav", b"RIFF....WAVEjunk", "audio/wav")).run()
    no_exception(at)
    assert any("broken.wav" in e.value and "audio file" in e.value for e in at.error)
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000, dtype=np.float32), 16000, format="WAV")
    at.file_uploader(key="classify_upload_1").set_value(("quiet.wav", buf.getvalue(), "audio/wav")).run()
    no_exception(at)
    assert any("silent" in e.value for e in at.error)


def test_features_parameters_change_the_chain(app, app_env):
    at = with_demo_clip(app.run(), "app_pages/features.py")
    assert "40 triangular filters" in texts(at) or any("40 mel filters" in str(getattr(c, "value", ""))
                                                       for c in at.get("plotly_chart"))
    n_charts = len(at.get("plotly_chart"))
    assert n_charts >= 14
    at.slider(key="f_mels").set_value(64).run()
    no_exception(at)
    assert "**64 triangular filters**" in texts(at)
    at.slider(key="f_coeff").set_value(0.5).run()
    at.selectbox(key="f_window").set_value("hann").run()
    no_exception(at)
    assert any("0.5 - 0.5" in l.value for l in at.latex)  # the Hann formula is shown
    # a frame of 25 ms is 400 samples at 16 kHz: n_fft 256 is too small, said in words
    at.selectbox(key="f_nfft").set_value(256).run()
    no_exception(at)
    assert any("n_fft (256) must be at least the frame length" in e.value for e in at.error)


def test_explain_every_model(app, app_env):
    at = with_demo_clip(app.run(), "app_pages/explain.py")
    for name in ("acrnn", "glam", "parallel_cnn_transformer", "serct"):
        at.selectbox(key="x_model").set_value(name).run()
        no_exception(at)
        body = texts(at)
        assert f"**{name}** says" in body
        if name == "glam":
            assert "no attention layer" in body
        else:  # its attention (the clip card's waveform is an SVG)
            assert len(at.get("plotly_chart")) >= 1
        assert 'alt="waveform,' in " ".join(h.proto.body for h in at.get("html"))
    assert at.slider(key="x_whead_serct") is not None  # SERCT's windows were drawn (head picker)


def test_compare_side_by_side_and_measured_results(app, app_env):
    at = with_demo_clip(app.run(), "app_pages/compare.py")
    no_exception(at)
    tables = [d.value for d in at.dataframe]
    answers = tables[0]
    assert list(answers["model"]) == ["acrnn", "glam", "parallel_cnn_transformer", "serct"]
    left_out = tables[1]  # the shipped models on a corpus they never heard (results/loco/)
    assert "consensus" in list(left_out["model"]) and "95 % CI" in left_out.columns
    measured = tables[2]
    row = measured[measured["scope"] == "mean over folds"].iloc[0]
    assert row["model"] == "acrnn" and row["UA"] == 58.0 and row["UA ±"] == 4.0
    assert at.selectbox(key="cm_acrnn").value == "test"
    at.multiselect(key="cmp_models").set_value(["glam", "serct"]).run()
    no_exception(at)
    assert list(at.dataframe[0].value["model"]) == ["glam", "serct"]


def test_train_submit_and_cancel_a_job(app, app_env, tiny_emodb):
    from ser_core.jobs import api as jobs

    at = app.run()
    at.switch_page("app_pages/train.py").run()
    no_exception(at)
    assert "No jobs yet" in texts(at)
    at.selectbox(key="t_model").set_value("glam")
    at.multiselect(key="t_corpora").set_value(["emodb"])
    at.number_input(key="t_epochs").set_value(1)
    at.checkbox(key="t_center").check()
    at.run()
    at.text_input(key="t_root_emodb").set_value(str(tiny_emodb))
    at.button(key="t_submit").click().run()
    no_exception(at)
    assert any("queued" in s.value for s in at.success), [e.value for e in at.error]
    (job,) = jobs.list_jobs()
    assert job.kind == "cv" and "--model" in job.argv and "glam" in job.argv
    assert str(tiny_emodb) in job.argv and "--epochs" in job.argv, " ".join(job.argv)
    # the input path as shipped unless changed ("Input and augmentation"), and centring asked for
    assert "--vad-trim" in job.argv and "lowpass_hz=5500" in job.argv and "gain_normalize=true" in job.argv
    assert "center_time=true" in job.argv and "--augment" not in job.argv, " ".join(job.argv)
    table = at.dataframe[0].value
    assert list(table["id"]) == [job.id]
    cancel = [b for b in at.button if b.key == f"t_cancel_{job.id}"]
    if cancel:  # still queued or running: cancel it from the page
        cancel[0].click().run()
        no_exception(at)
    final = jobs.wait(job.id, timeout_s=60)
    assert final.finished


def test_train_resume_a_cancelled_job(app, app_env, tmp_path):
    from ser_core.jobs import api as jobs
    from ser_core.jobs.params import JobParams

    out = tmp_path / "selftest_out"
    job = jobs.submit(JobParams("selftest", out=str(out), options=("--seconds", "0")),
                      start_worker=False)
    jobs.cancel(job.id)
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    no_exception(at)
    assert not [b for b in at.button if b.key == f"t_cancel_{job.id}"]
    at.button(key=f"t_resume_{job.id}").click().run()
    no_exception(at)
    assert any(f"resumes job {job.id}" in s.value for s in at.success), [e.value for e in at.error]
    again = jobs.list_jobs()[0]
    assert again.id != job.id and again.command == job.command and again.out_dir == str(out)
    assert at.selectbox(key="t_watch").value == again.id
    assert jobs.wait(again.id, timeout_s=60).status == "succeeded"
    assert (out / "selftest.json").is_file()


def test_train_bad_submission_is_explained(app, app_env):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.multiselect(key="t_corpora").set_value(["emodb"]).run()
    at.text_input(key="t_root_emodb").set_value("/definitely/not/here")
    at.button(key="t_submit").click().run()
    no_exception(at)
    assert at.error and "/definitely/not/here" in at.error[0].value


def test_datasets_summary_and_listening(app, app_env, tiny_emodb):
    at = app.run()
    at.switch_page("app_pages/datasets.py").run()
    no_exception(at)
    at.text_input(key="ds_root").set_value(str(tiny_emodb)).run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files"] == "6" and metrics["Speakers"] == "3" and metrics["Emotions"] == "2"
    assert len(at.get("audio")) == 1
    at.selectbox(key="ds_emo").set_value("sadness").run()
    assert set(at.dataframe[0].value["emotion"]) == {"sadness"}
    at.button(key="ds_use").click().run()
    no_exception(at)
    clip = at.session_state["current_clip"]
    assert clip.label == "sadness" and clip.source == "corpus"


def test_classify_pick_from_a_corpus_folder(app, app_env, tiny_emodb):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.text_input(key="classify_root").set_value(str(tiny_emodb)).run()
    no_exception(at)
    assert "Recognised as **emodb**" in texts(at)
    at.selectbox(key="classify_emo").set_value("anger").run()
    at.button(key="classify_use").click().run()
    no_exception(at)
    assert at.session_state["current_clip"].label == "anger"
    assert "Consensus" in [m.label for m in at.metric]


def test_live_page_loads_and_explains_itself(app, app_env):
    at = app.run()
    at.switch_page("app_pages/live.py").run()
    no_exception(at)
    assert at.slider(key="live_window").value == 3.0
    # AppTest has no WebRTC runtime: the page says so instead of failing
    assert any("Live streaming is not available here" in w.value for w in at.warning)


def test_clip_is_shared_across_pages(app, app_env, wav):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("mine.wav", wav(2.0), "audio/wav")).run()
    at.switch_page("app_pages/features.py").run()
    no_exception(at)
    assert "**mine.wav**" in texts(at)
    at.switch_page("app_pages/explain.py").run()
    no_exception(at)
    assert "**mine.wav**" in texts(at)
