"""The job database, the progress reader and the checkpoint finder (no worker needed)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from jobs_helpers import REPO

from ser_core.jobs.procs import describe_exit, is_alive, process_start
from ser_core.jobs.store import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Store
from ser_core.jobs.supervisor import ProgressTail, find_checkpoints, last_error_line


def _add(store, kind="selftest"):
    return store.insert(kind, ["--x"], lambda i: [kind, f"--id={i}"], "/tmp", {}, 1,
                        lambda i: (f"/tmp/out{i}", f"/tmp/out{i}/progress.jsonl"))


def test_store_lifecycle_and_compare_and_set(tmp_path):
    store = Store(tmp_path / "runs")
    a, b = _add(store), _add(store)
    assert (a.id, a.status, a.command) == (1, QUEUED, ["selftest", "--id=1"])
    assert store.get(2).log_path.endswith("jobs/2/log.txt")
    claimed = store.claim_next(123, lambda gpus: True)
    assert claimed.id == 1 and claimed.status == RUNNING and claimed.worker_pid == 123
    assert store.claim_next(123, lambda gpus: False) is None  # job 2 does not fit: stays queued
    assert store.finish(1, SUCCEEDED, "finished", 0, checkpoints=["/c"], checkpoint="/c")
    assert not store.finish(1, FAILED, "late")  # someone already recorded the outcome
    assert store.get(1).status == SUCCEEDED and store.get(1).checkpoints == ["/c"]
    assert store.finish(2, CANCELLED, "by user", expect=(QUEUED,))
    assert store.counts() == {SUCCEEDED: 1, CANCELLED: 1}
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_runs_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert Store().path == (tmp_path / "elsewhere" / "jobs.sqlite").resolve()


def test_killing_a_writer_never_leaves_a_half_written_record(tmp_path):
    """SIGKILL a process in the middle of a stream of progress writes: the database stays
    intact and the row holds one complete progress record."""
    store = Store(tmp_path / "runs")
    job = _add(store)
    script = f"""
import itertools
from ser_core.jobs.store import Store
s = Store({str(tmp_path / 'runs')!r})
big = "x" * 20000
for i in itertools.count():
    s.update({job.id}, progress={{"step": i, "pad": big, "end": i}})
"""
    p = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    time.sleep(1.5)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    progress = store.get(job.id).progress
    assert progress["step"] == progress["end"] > 0


def test_progress_tail_reads_whole_lines_and_skips_junk(tmp_path):
    path = tmp_path / "progress.jsonl"
    tail = ProgressTail(str(path))
    assert not tail.poll()  # no file yet
    with open(path, "w") as fh:
        fh.write(json.dumps({"event": "start", "epochs": 3}) + "\n")
        fh.write("not json\n[1, 2]\n")
        fh.write('{"event": "epoch", "epoch": 1, "val_ua": 0.5, "unknown_key": {"a": 1}}\n')
        fh.write('{"event": "step", "ep')  # being written
    assert tail.poll()
    assert tail.lines == 2 and tail.latest["epoch"] == 1 and tail.latest["epochs"] == 3
    assert tail.latest["unknown_key"] == {"a": 1}
    with open(path, "a") as fh:
        fh.write('och": 2, "step": 7}\n')
    assert tail.poll() and tail.last == {"event": "step", "epoch": 2, "step": 7}
    assert tail.summary()["val_ua"] == 0.5 and tail.summary()["records"] == 3
    path.write_text('{"event": "start"}\n')  # replaced (a re-run): start over
    assert tail.poll() and tail.last == {"event": "start"}
    fresh = ProgressTail(str(path), skip_existing=True)  # an earlier run's lines are not ours
    assert not fresh.poll()
    with open(path, "a") as fh:
        fh.write('{"event": "run_start"}\n')
    assert fresh.poll() and fresh.lines == 1 and fresh.last == {"event": "run_start"}


def test_find_checkpoints_prefers_the_output_folder_then_best(tmp_path):
    def ckpt(d):
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
        (d / "model.safetensors").write_bytes(b"")
    ckpt(tmp_path / "out" / "fold1" / "deep")
    ckpt(tmp_path / "out" / "best")
    ckpt(tmp_path / "out" / "fold0")
    ckpt(tmp_path / "out" / ".best.tmp123")  # being written: ignored
    found = find_checkpoints(str(tmp_path / "out"))
    assert [os.path.relpath(f, tmp_path / "out") for f in found] == ["best", "fold0", "fold1/deep"]
    ckpt_root = tmp_path / "single"
    ckpt(ckpt_root)
    assert find_checkpoints(str(ckpt_root)) == [str(ckpt_root)]
    assert find_checkpoints(str(tmp_path / "missing")) == []


def test_last_error_line_and_exit_descriptions(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("epoch 1\nTraceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n")
    assert last_error_line(str(log)) == "RuntimeError: CUDA out of memory"
    log.write_text("error: Corpus folder /x does not exist.\nsomething else\n")
    assert last_error_line(str(log)) == "error: Corpus folder /x does not exist."
    assert describe_exit(0).startswith("exited normally")
    assert describe_exit(-9).startswith("killed by SIGKILL") and "out of memory" in describe_exit(-9)
    assert describe_exit(-15) == "killed by SIGTERM (signal 15)"
    assert describe_exit(2) == "exited with status 2"


def test_pid_identity_detects_reuse():
    me = os.getpid()
    start = process_start(me)
    assert is_alive(me, start)
    assert not is_alive(me, start + "0")  # same pid, different process
    assert not is_alive(None)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not is_alive(p.pid)


def test_a_claimed_job_whose_worker_died_before_starting_it_is_failed(tmp_path):
    from ser_core.jobs import get_job

    runs = tmp_path / "runs"
    store = Store(runs)
    job = _add(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.claim_next(dead.pid, lambda gpus: True)
    assert get_job(job.id, runs).status == RUNNING  # within the start grace period
    store.update(job.id, started_at=time.time() - 60)
    shown = get_job(job.id, runs)
    assert shown.status == FAILED and "before the job's process started" in shown.exit_reason
