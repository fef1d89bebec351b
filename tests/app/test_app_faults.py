"""Fault injection through the app's pages: folders outside the allowed roots, escapes with
``..`` and symbolic links, jobs without the admin token, labels carrying Markdown/HTML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app.test_pages import no_exception, texts

REPO = Path(__file__).resolve().parents[2]


def _datasets(app, root: str):
    at = app.run()
    at.switch_page("app_pages/datasets.py").run()
    at.text_input(key="ds_root").set_value(root).run()
    no_exception(at)
    return at


@pytest.mark.parametrize("where", ["/", "/etc", "{tmp}/../..", "~"])
def test_datasets_refuses_folders_outside_the_roots(app, app_env, tmp_path, where):
    at = _datasets(app, where.format(tmp=tmp_path))
    assert at.error and "outside the folders this app may open" in at.error[0].value
    assert not at.metric and not at.dataframe  # nothing listed, nothing walked
    assert "SER_ALLOWED_ROOTS" in at.error[0].value


def test_a_symlink_out_of_a_root_is_refused(app, app_env, tmp_path, tmp_path_factory, tiny_emodb):
    outside = tmp_path_factory.mktemp("elsewhere")  # a sibling of tmp_path: not allowed
    (tmp_path / "link").symlink_to(outside)
    at = _datasets(app, str(tmp_path / "link"))
    assert at.error and "outside the folders" in at.error[0].value
    # a file inside the root that links out is refused when read
    from ui.widgets import read_allowed
    from ser_core.errors import SerError

    (outside / "secret.wav").write_bytes(b"RIFF")
    (tiny_emodb / "wav" / "03a01Fa.wav").symlink_to(outside / "secret.wav")
    with pytest.raises(SerError, match="outside"):
        read_allowed(str(tiny_emodb / "wav" / "03a01Fa.wav"))


def test_classify_corpus_tab_refuses_the_root_of_the_disk(app, app_env):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.text_input(key="classify_root").set_value("/").run()
    no_exception(at)
    assert any("outside the folders this app may open" in e.value for e in at.error)
    assert "Recognised as" not in texts(at)


def test_train_refuses_a_corpus_folder_outside_the_roots(app, app_env, tmp_path_factory):
    from ser_core.jobs import api as jobs

    outside = tmp_path_factory.mktemp("other_corpus")
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.multiselect(key="t_corpora").set_value(["emodb"]).run()
    at.text_input(key="t_root_emodb").set_value(str(outside))
    at.button(key="t_submit").click().run()
    no_exception(at)
    assert at.error and "outside the folders this app may open" in at.error[0].value
    assert jobs.list_jobs(start_worker=False) == []


def test_admin_token_guards_submission(app, app_env, tiny_emodb, monkeypatch):
    from ser_core.jobs import api as jobs

    monkeypatch.setenv("SER_ADMIN_TOKEN", "s3cret")
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    no_exception(at)
    assert "admin token" in texts(at)
    at.multiselect(key="t_corpora").set_value(["emodb"]).run()
    at.text_input(key="t_root_emodb").set_value(str(tiny_emodb))
    at.button(key="t_submit").click().run()
    assert at.error and "admin token is needed" in at.error[0].value
    assert jobs.list_jobs(start_worker=False) == []
    at.text_input(key="_admin_token_input").set_value("wrong").run()
    assert any("not the admin token" in e.value for e in at.error)
    at.text_input(key="_admin_token_input").set_value("s3cret").run()
    no_exception(at)
    assert "Admin token accepted" in texts(at)
    assert at.session_state["_admin_token"] == "s3cret"


def test_the_train_page_shows_a_damaged_database(app, app_env, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "jobs.sqlite").write_bytes(b"")
    at = app.run()
    assert any("jobs database" in w.value and "kept as" in w.value for w in at.warning)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("jobs database" in e.value and "kept as" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert list(runs.glob("jobs.sqlite.damaged-*"))


def test_token_helpers(monkeypatch):
    from ser_core import sandbox

    assert sandbox.token_matches(None, {}) and not sandbox.token_required({})
    env = {"SER_ADMIN_TOKEN": "abc"}
    assert sandbox.token_required(env)
    assert sandbox.token_matches("abc", env) and not sandbox.token_matches("abd", env)
    assert not sandbox.token_matches(None, env)


def test_sandbox_resolves_before_checking(tmp_path, monkeypatch):
    from ser_core.sandbox import AccessError, allowed_roots, check_path

    data = tmp_path / "data"
    (data / "ravdess").mkdir(parents=True)
    monkeypatch.setenv("SER_DATA_ROOT", str(data))
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SER_ALLOWED_ROOTS", os.pathsep.join([str(tmp_path / "extra"), ""]))
    roots = allowed_roots()
    assert roots == [data.resolve(), (tmp_path / "runs").resolve(), (tmp_path / "extra").resolve()]
    assert check_path(str(data / "ravdess" / ".." / "ravdess")) == (data / "ravdess").resolve()
    assert check_path(tmp_path / "extra" / "x") == (tmp_path / "extra" / "x").resolve()
    for bad in (str(data / ".." / "elsewhere"), "/", str(tmp_path)):
        with pytest.raises(AccessError, match="outside"):
            check_path(bad)
    (data / "loop").symlink_to(data / "loop")
    with pytest.raises(AccessError):
        check_path(data / "loop")


def test_job_paths_are_checked_by_the_service(tmp_path, monkeypatch):
    from ser_core.jobs import api as jobs
    from ser_core.jobs.params import JobParams
    from ser_core.sandbox import AccessError, check_job_paths

    monkeypatch.setenv("SER_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SER_ALLOWED_ROOTS", raising=False)
    check_job_paths(["--model", "glam", "--root", f"{tmp_path}/data/a,{tmp_path}/data/b",
                     f"--out={tmp_path}/runs/x"])
    for argv in (["--root", f"{tmp_path}/data/a,/etc"], ["--out", "/tmp/elsewhere"],
                 ["--root=/"]):
        with pytest.raises(AccessError, match="outside"):
            check_job_paths(argv)
    with pytest.raises(AccessError):
        jobs.submit(JobParams("cv", model="glam", corpora=("emodb",), roots=("/",)),
                    start_worker=False, restrict_paths=True)
    assert not (tmp_path / "runs" / "jobs.sqlite").exists()  # refused before anything


def test_labels_are_shown_literally():
    from ui.widgets import md_escape

    text = md_escape("anger<img src=x onerror=alert(1)>[x](http://evil.example) :material/x:")
    assert "\\<img" in text and "\\]\\(" in text and "\\:material/x\\:" in text
    import re

    assert not re.search(r"(?<!\\)[<>\[\]():]", text)  # no special character left unescaped
    live = (REPO / "app_pages" / "live.py").read_text()
    assert "unsafe_allow_html" not in live


@pytest.mark.slow
def test_an_uploaded_decompression_bomb_gets_a_sentence(app, app_env, tmp_path):
    from tests.faults.test_audio_faults import write_bomb

    bomb = write_bomb(tmp_path / "bomb.flac", seconds=130).read_bytes()  # 200 M samples
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload").set_value(("bomb.flac", bomb, "audio/flac")).run()
    no_exception(at)
    assert any("bomb.flac would decode to 200 million samples" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert "current_clip" not in at.session_state or at.session_state["current_clip"] is None
