"""Jobs end to end with the real worker, supervisors and the ``jobs selftest`` command.

Every test here starts real detached processes (worker, supervisor, command) and checks
them with /proc, so they take a few seconds each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jobs_helpers import REPO, stop_worker, submit, wait_for

from ser_core import jobs
from ser_core.jobs.procs import group_members, is_alive
from ser_core.jobs.store import Store
from ser_core.jobs.params import THREAD_VARS
from ser_core.jobs.worker import cpu_thread_env

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc needed")]


def _running_with(job_id, key, runs):
    """The job once it runs and its progress has ``key`` (e.g. the command's pid)."""
    def check():
        job = jobs.get_job(job_id, runs)
        assert job.status in ("queued", "running"), (job.status, job.exit_reason)
        return job if job.status == "running" and key in job.progress and job.child_pid else None
    return wait_for(check, 30, what=f"job {job_id} running with {key}")


def test_submit_tiny_job_and_watch_it_finish(runs):
    t0 = time.monotonic()
    job = submit("selftest", ["--seconds", "1", "--steps", "4"], runs)
    submit_s = time.monotonic() - t0
    assert job.status == "queued" and submit_s < 5
    seen_running = wait_for(lambda: jobs.get_job(job.id).status in ("running", "succeeded"), 20)
    assert seen_running
    done = jobs.wait(job.id, timeout_s=30)
    assert done.status == "succeeded", done.exit_reason
    assert done.exit_code == 0 and done.device == "cpu"
    assert done.created_at <= done.started_at <= done.finished_at
    out = Path(done.out_dir)
    assert out == runs.resolve() / "jobs" / str(job.id) / "out"
    result = json.loads((out / "selftest.json").read_text())
    assert result["steps"] == 4
    history = jobs.progress_history(job.id)
    assert [r["event"] for r in history] == ["start", "step", "step", "step", "step", "end"]
    assert [r["step"] for r in jobs.progress_history(job.id, events=["step"])] == [1, 2, 3, 4]
    assert done.progress["step"] == 4 and done.progress["eta_s"] == 0
    log = jobs.read_log(job.id)
    assert "starting on cpu" in log and "exited normally" in log
    assert not is_alive(done.pid, done.pid_start) or wait_for(
        lambda: not is_alive(done.pid, done.pid_start), 10)


def test_progress_is_visible_while_running(runs):
    job = submit("selftest", ["--seconds", "3", "--steps", "6"], runs)
    mid = wait_for(lambda: (j := jobs.get_job(job.id)).status == "running"
                   and j.progress.get("step", 0) >= 2 and j, 30, what="progress")
    assert mid.progress["steps"] == 6 and mid.progress["eta_s"] > 0
    assert jobs.wait(job.id, timeout_s=30).status == "succeeded"


@pytest.mark.parametrize("ignore_sigterm", [False, True], ids=["sigterm", "needs-sigkill"])
def test_cancel_running_job_kills_its_whole_process_group(runs, ignore_sigterm):
    extra = ["--ignore-sigterm"] if ignore_sigterm else []
    job = submit("selftest", ["--seconds", "120", "--steps", "120", "--spawn-child", *extra], runs)
    job = _running_with(job.id, "child_pid", runs)
    pids = [job.pid, job.child_pid, job.progress["pid"], job.progress["child_pid"]]
    assert job.progress["pgid"] == job.pgid == job.pid  # the command runs in the job's group
    assert all(is_alive(p) for p in pids)
    t0 = time.monotonic()
    cancelled = jobs.cancel(job.id, grace_s=1.5)
    took = time.monotonic() - t0
    assert cancelled.status == "cancelled", cancelled.exit_reason
    assert "cancelled by user" in cancelled.exit_reason
    assert group_members(job.pgid) == []
    assert not any(is_alive(p) for p in pids)
    assert took < (8 if ignore_sigterm else 5)
    assert not (Path(job.out_dir) / "selftest.json").exists()
    # cancelling again is harmless
    assert jobs.cancel(job.id).status == "cancelled"


def test_cancel_queued_job_never_starts(runs):
    first = submit("selftest", ["--seconds", "60", "--steps", "60"], runs)
    second = submit("selftest", ["--seconds", "1"], runs)
    _running_with(first.id, "pid", runs)
    assert jobs.get_job(second.id).status == "queued"
    c = jobs.cancel(second.id)
    assert c.status == "cancelled" and c.started_at is None
    jobs.cancel(first.id, grace_s=2)
    time.sleep(1.5)  # the worker would have started it by now
    assert jobs.get_job(second.id).started_at is None


def test_resume_queues_the_same_command_into_the_same_folder(runs):
    job = submit("selftest", ["--seconds", "0", "--steps", "2"], runs, start_worker=False)
    with pytest.raises(jobs.JobError, match=r"is queued; only a failed or cancelled job"):
        jobs.resume(job.id, runs, start_worker=False)
    assert jobs.cancel(job.id, runs).status == "cancelled"
    again = jobs.resume(job.id, runs, start_worker=False)
    assert again.id != job.id and again.status == "queued"
    assert (again.kind, again.command, again.argv) == (job.kind, job.command, job.argv)
    assert again.out_dir == job.out_dir == str(runs.resolve() / "jobs" / str(job.id) / "out")
    with pytest.raises(jobs.JobError, match=rf"Job {again.id} \(queued or running\) already writes to"):
        jobs.resume(job.id, runs, start_worker=False)  # one live job per output folder
    done = jobs.wait(jobs.list_jobs(runs)[0].id, timeout_s=30)  # list_jobs starts a worker
    assert done.id == again.id and done.status == "succeeded", done.exit_reason
    assert json.loads((Path(job.out_dir) / "selftest.json").read_text())["steps"] == 2
    with pytest.raises(jobs.JobError, match=r"succeeded; there is nothing left to resume"):
        jobs.resume(again.id, runs, start_worker=False)


def test_killed_command_is_marked_failed_with_the_signal(runs):
    job = submit("selftest", ["--seconds", "120", "--steps", "120"], runs)
    job = _running_with(job.id, "pid", runs)
    os.kill(job.child_pid, signal.SIGKILL)  # what the OOM killer does
    done = jobs.wait(job.id, timeout_s=20)
    assert done.status == "failed"
    assert done.exit_code == -signal.SIGKILL
    assert "SIGKILL" in done.exit_reason and "out of memory" in done.exit_reason
    wait_for(lambda: group_members(job.pgid) == [], 10, what="the job's group to be gone")


def test_sigterm_from_outside_is_a_failure_not_a_cancel(runs):
    """E.g. a shutdown signalling the job's supervisor: the command is stopped and the job
    is failed, saying so."""
    job = submit("selftest", ["--seconds", "120", "--steps", "120"], runs)
    job = _running_with(job.id, "pid", runs)
    os.kill(job.pid, signal.SIGTERM)
    done = jobs.wait(job.id, timeout_s=30)
    assert done.status == "failed"
    assert done.exit_reason.startswith("stopped by SIGTERM sent to the job from outside (not a cancel)")
    wait_for(lambda: group_members(job.pgid) == [], 10)


def test_failing_command_reports_its_status(runs):
    job = submit("selftest", ["--seconds", "0", "--steps", "1", "--exit-code", "3"], runs)
    done = jobs.wait(job.id, timeout_s=30)
    assert done.status == "failed" and done.exit_code == 3
    assert "exited with status 3" in done.exit_reason


def test_vanished_job_is_reconciled_on_show(runs):
    """Worker stopped, then the whole job group killed: nobody is left to record the outcome,
    so the next ``get_job``/``list_jobs`` marks it failed with a reason."""
    job = submit("selftest", ["--seconds", "120", "--steps", "120"], runs)
    job = _running_with(job.id, "pid", runs)
    store = Store(runs)
    stop_worker(store)
    assert jobs.get_job(job.id).status == "running"  # the job outlives the worker
    os.killpg(job.pgid, signal.SIGKILL)
    wait_for(lambda: group_members(job.pgid) == [], 10)
    shown = jobs.get_job(job.id)
    assert shown.status == "failed"
    assert "disappeared" in shown.exit_reason and str(job.pid) in shown.exit_reason
    assert [j.status for j in jobs.list_jobs()] == ["failed"]


def test_job_survives_the_submitting_process_and_the_worker(runs):
    """The app (here: a Python process that submits) is killed with its whole process group,
    and so is the worker: the job still finishes and its output appears."""
    script = textwrap.dedent(f"""
        import sys, time
        from ser_core.jobs import JobParams, submit
        job = submit(JobParams("selftest", options=("--seconds", "4", "--steps", "8")), {str(runs)!r})
        print(job.id, flush=True)
        time.sleep(600)
    """)
    app = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        job_id = int(app.stdout.readline())
        job = _running_with(job_id, "pid", runs)
        os.killpg(app.pid, signal.SIGKILL)
        app.wait(10)
        w = Store(runs).worker()
        os.kill(w["pid"], signal.SIGKILL)
        wait_for(lambda: not is_alive(w["pid"], w["pid_start"]), 10)
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    assert jobs.get_job(job_id).status in ("running", "succeeded")  # not failed: nobody killed it
    done = jobs.wait(job_id, timeout_s=30)
    assert done.status == "succeeded", done.exit_reason
    assert (Path(job.out_dir) / "selftest.json").is_file()


def test_two_jobs_run_in_order(runs):
    a = submit("selftest", ["--seconds", "1.5", "--steps", "3"], runs)
    b = submit("selftest", ["--seconds", "0.5", "--steps", "1"], runs)
    a, b = jobs.wait(a.id, timeout_s=30), jobs.wait(b.id, timeout_s=30)
    assert a.status == b.status == "succeeded"
    assert a.finished_at <= b.started_at


def test_concurrency_two_runs_two_at_once_each_on_its_share_of_the_cores(runs, monkeypatch):
    monkeypatch.setenv("SER_JOBS_CONCURRENCY", "2")
    for var in THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    a = submit("selftest", ["--seconds", "3", "--steps", "3"], runs)
    b = submit("selftest", ["--seconds", "3", "--steps", "3"], runs)
    a, b = jobs.wait(a.id, timeout_s=30), jobs.wait(b.id, timeout_s=30)
    assert a.status == b.status == "succeeded"
    assert b.started_at < a.finished_at  # they overlapped
    share = str(max(1, (os.cpu_count() or 1) // 2))
    for job in (a, b):  # the selftest records the thread settings it was started with
        start = json.loads((Path(job.out_dir) / "progress.jsonl").read_text().splitlines()[0])
        assert start["threads"] == {v: share for v in THREAD_VARS}


def test_cpu_thread_share_only_when_jobs_share_the_cpu_and_never_over_a_set_value():
    assert cpu_thread_env(1, {}, cpus=16) == {}
    assert cpu_thread_env(2, {}, cpus=2) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert cpu_thread_env(3, {}, cpus=16) == {"OMP_NUM_THREADS": "5", "MKL_NUM_THREADS": "5"}
    assert cpu_thread_env(4, {}, cpus=2) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert cpu_thread_env(2, {"OMP_NUM_THREADS": "2"}, cpus=2) == {"MKL_NUM_THREADS": "1"}


def test_one_job_per_gpu_each_told_its_gpu(runs, monkeypatch):
    """Two GPUs (as CUDA_VISIBLE_DEVICES says; the selftest does not touch them): two slots,
    each job sees only its own GPU."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    ids = [submit("selftest", ["--seconds", "2", "--steps", "2"], runs).id for _ in range(3)]
    a, b, c = (jobs.wait(i, timeout_s=40) for i in ids)
    assert [j.status for j in (a, b, c)] == ["succeeded"] * 3
    assert (a.device, b.device) == ("cuda:0", "cuda:1")
    assert b.started_at < a.finished_at  # both GPUs busy at once
    assert c.started_at >= min(a.finished_at, b.finished_at)  # the third waited for a free GPU
    assert "starting on cuda:1" in jobs.read_log(b.id)
    assert jobs.worker_info(runs)["devices"] == ["0", "1"]


def test_only_one_worker_per_runs_folder(runs):
    cmd = [sys.executable, "-m", "ser_core", "jobs", "worker", "--runs", str(runs), "--idle-exit", "30"]
    w1 = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (w := Store(runs).worker()) and w["pid"] == w1.pid, 15, what="worker 1")
        w2 = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
        assert w2.wait(20) == 0  # it found the lock taken and left
        assert jobs.worker_info(runs)["pid"] == w1.pid and w1.poll() is None
        job = submit("selftest", ["--seconds", "0.2", "--steps", "1"], runs)
        assert jobs.wait(job.id, timeout_s=20).worker_pid == w1.pid
    finally:
        w1.terminate()
        w1.wait(15)
    assert Store(runs).worker() is None  # it unregistered


def test_worker_once_runs_the_queue_then_exits(runs):
    job = submit("selftest", ["--seconds", "0.2", "--steps", "1"], runs, start_worker=False)
    assert jobs.get_job(job.id).status == "queued"
    rc = subprocess.run([sys.executable, "-m", "ser_core", "jobs", "worker", "--once", "--runs", str(runs)],
                        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert rc.returncode == 0, rc.stderr
    assert jobs.get_job(job.id).status == "succeeded"
    assert "finished: succeeded" in (runs / "worker.log").read_text()


def test_list_starts_a_worker_for_a_stranded_queue(runs):
    """Queued jobs with no worker (e.g. after a reboot) get one when the app lists jobs."""
    job = submit("selftest", ["--seconds", "0.2", "--steps", "1"], runs, start_worker=False)
    time.sleep(0.5)
    assert jobs.get_job(job.id).status == "queued" and jobs.worker_info(runs) is None
    jobs.list_jobs(runs)
    assert jobs.wait(job.id, timeout_s=30).status == "succeeded"


def test_a_new_worker_adopts_the_running_job(runs):
    """The worker is stopped mid-job; the next submit starts a new one, which counts the
    still-running job against its slot, so the queue order holds."""
    a = submit("selftest", ["--seconds", "3", "--steps", "3"], runs)
    _running_with(a.id, "pid", runs)
    stop_worker(Store(runs))
    b = submit("selftest", ["--seconds", "0.2", "--steps", "1"], runs)
    a, b = jobs.wait(a.id, timeout_s=30), jobs.wait(b.id, timeout_s=30)
    assert a.status == b.status == "succeeded"
    assert b.started_at >= a.finished_at
    assert f"adopted running job {a.id}" in (runs / "worker.log").read_text()
