"""Fault injection into the job service: racing submissions, a locked, empty or foreign
database, a command killed by SIGKILL, a cancel, a closed pipe."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from jobs_helpers import REPO, submit, wait_for

from ser_core.jobs import api as jobs
from ser_core.jobs import store as store_mod
from ser_core.jobs.procs import describe_cancel
from ser_core.jobs.store import CANCELLED, QUEUED, RUNNING, JobError, JobStoreError, Store


def _insert(store, out):
    return store.insert("selftest", ["--out", out], lambda i: ["jobs", "selftest", "--out", out],
                        "/", {}, 1, lambda i: (out, f"{out}/progress.jsonl"))


def test_out_is_unique_inside_the_insert_transaction(runs, tmp_path):
    """Both submissions passed the early check (it ran before either insert): the insert
    itself refuses the second, even from racing threads."""
    store = Store(runs)
    out = str(tmp_path / "same")
    results: list = []

    def race():
        try:
            results.append(_insert(Store(runs), out).id)
        except JobError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r for r in results if isinstance(r, int)]
    assert len(ids) == 1, results
    assert all("already writes to" in r for r in results if isinstance(r, str))
    assert [j.id for j in store.list((QUEUED,))] == ids
    store.finish(ids[0], CANCELLED, "test", expect=(QUEUED,))
    assert _insert(store, out).id  # free again once the first is finished


@pytest.mark.parametrize("content,why", [(b"", "empty (0 bytes)"),
                                         (b"this is not a database" * 100, "not an SQLite database"),
                                         (b"SQLite format 3\x00" + b"\xff" * 4000, "SQLite")])
def test_a_damaged_database_is_kept_aside_and_the_user_told(runs, content, why):
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "jobs.sqlite").write_bytes(content)
    with pytest.raises(JobStoreError) as info:
        jobs.list_jobs(runs, start_worker=False)
    text = str(info.value)
    assert why in text and "kept as" in text, text
    kept = list(runs.glob("jobs.sqlite.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content  # the history is not destroyed
    assert jobs.list_jobs(runs, start_worker=False) == []     # then a new, empty list
    assert (runs / "jobs.sqlite").stat().st_size > 0


def test_a_lock_held_too_long_is_a_sentence(runs, monkeypatch):
    store = Store(runs)
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.3)
    holder = sqlite3.connect(runs / "jobs.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JobStoreError, match="is locked by another process"):
            _insert(store, str(runs / "x"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _running(job_id, runs):
    return wait_for(lambda: (j := jobs.get_job(job_id, runs)).status == RUNNING
                    and j.progress.get("pid") and j, 30, what="the job to run")


def test_run_json_is_closed_after_a_sigkill(runs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"kind": "ser_core run", "status": "running"}))
    job = submit("selftest", ["--out", str(out), "--seconds", "60", "--steps", "60"], runs)
    job = _running(job.id, runs)
    os.kill(job.progress["pid"], signal.SIGKILL)  # the command, as the OOM killer would
    done = jobs.wait(job.id, runs, timeout_s=30)
    assert done.status == "failed" and "SIGKILL" in done.exit_reason
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "failed" and "SIGKILL" in manifest["reason"]


def test_run_json_is_closed_when_the_supervisor_itself_dies(runs, tmp_path):
    out = tmp_path / "out2"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"kind": "ser_core run", "status": "running"}))
    job = submit("selftest", ["--out", str(out), "--seconds", "60", "--steps", "60"], runs)
    job = _running(job.id, runs)
    os.kill(job.pid, signal.SIGKILL)  # the supervisor: only the reconciler can tell
    done = wait_for(lambda: (j := jobs.get_job(job.id, runs)).finished and j, 30, what="reconcile")
    assert done.status == "failed"
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_a_cancel_is_reported_as_a_cancel(runs):
    job = submit("selftest", ["--seconds", "60", "--steps", "60"], runs)
    _running(job.id, runs)
    done = jobs.cancel(job.id, runs, grace_s=5)
    assert done.status == "cancelled"
    assert "SIGINT" not in done.exit_reason and "killed" not in done.exit_reason, done.exit_reason
    assert describe_cancel(130) == describe_cancel(-signal.SIGTERM) == \
        "cancelled by user (the command stopped when asked)"


def test_jobs_list_into_a_closed_pipe_exits_cleanly(runs):
    store = Store(runs)
    for i in range(400):
        j = _insert(store, str(runs / f"o{i}"))
        store.finish(j.id, CANCELLED, "test", expect=(QUEUED,))
    res = subprocess.run(f"{sys.executable} -m ser_core jobs list --runs {runs} | head -1",
                         shell=True, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.stdout.startswith("  ID") and res.stdout.count("\n") == 1
    assert "BrokenPipeError" not in res.stderr and "Traceback" not in res.stderr, res.stderr
