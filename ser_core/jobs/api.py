"""What the app's Train page and the ``jobs`` CLI call. Every function takes ``runs_dir``
(default ``$SER_RUNS_DIR`` or ``./runs``) and is safe to call from any process, any number of
times (a Streamlit rerun included): state lives in SQLite, nothing in memory.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ser_core.jobs import params
from ser_core.jobs.procs import group_members, signal_group, wait_group_gone
from ser_core.jobs.store import CANCELLED, FINISHED, QUEUED, RUNNING, SUCCEEDED, Job, JobError, Store
from ser_core.jobs.supervisor import parse_progress_line
from ser_core.jobs.worker import ensure_worker, reconcile, worker_status

PathLike = str | os.PathLike


def submit(job: params.JobParams, runs_dir: PathLike | None = None, *,
           cwd: PathLike | None = None, env: dict[str, str] | None = None, gpus: int = 1,
           start_worker: bool = True, restrict_paths: bool = False) -> Job:
    """Queue ``python -m ser_core KIND ARGS...`` (``job.kind``, ``job.argv()``) and return the
    queued :class:`Job` at once.

    ``job`` is checked now (:func:`ser_core.jobs.params.validate`: model names, corpus
    folders, checkpoints, output folder); bad parameters raise :class:`JobError` (a
    ``SerError``) with a sentence to show. Without ``out`` a job writes to ``runs/jobs/<id>/out``.
    Relative paths are relative to ``cwd`` (default: the current folder), where the job runs.
    ``gpus`` > 1 runs a training job on that many GPUs under ``torchrun``. ``env`` adds
    environment variables for the job. Unless ``start_worker=False``, a detached worker is
    started if none is running. ``restrict_paths=True`` (the app) also refuses ``--root`` and
    ``--out`` folders outside the allowed roots (:mod:`ser_core.sandbox`).
    """
    if restrict_paths:
        from ser_core.sandbox import check_job_paths

        check_job_paths(job.argv())
    store = Store(runs_dir)
    cwd = Path(cwd or os.getcwd()).resolve()
    busy = {j.out_dir: j.id for j in store.list((QUEUED, RUNNING)) if j.out_dir}
    prepared = params.validate(job, store.runs_dir, cwd, busy, gpus=int(gpus))
    queued = store.insert(job.kind, prepared.argv, prepared.command, str(cwd), dict(env or {}),
                          int(gpus), prepared.out)
    if start_worker:
        ensure_worker(store.runs_dir)
    return queued


def list_jobs(runs_dir: PathLike | None = None, statuses: Sequence[str] | None = None,
              limit: int | None = None, start_worker: bool = True) -> list[Job]:
    """Jobs, newest first, with their true state: dead processes are marked failed first, and a
    worker is started if jobs are queued and none is running (e.g. after a reboot)."""
    store = Store(runs_dir)
    _refresh(store, start_worker)
    return store.list(tuple(statuses) if statuses else None, limit)


def get_job(job_id: int, runs_dir: PathLike | None = None) -> Job:
    """One job (reconciled like :func:`list_jobs`); unknown ids raise :class:`JobError`."""
    store = Store(runs_dir)
    _refresh(store, start_worker=False)
    return store.get(job_id)


def _refresh(store: Store, start_worker: bool) -> None:
    reconcile(store)
    if start_worker and store.counts().get(QUEUED):
        ensure_worker(store.runs_dir)


def cancel(job_id: int, runs_dir: PathLike | None = None, grace_s: float = 10.0) -> Job:
    """Cancel a queued or running job and return it (finished jobs are returned unchanged).

    A running job's whole process group gets SIGTERM, then SIGKILL after ``grace_s``; when
    this returns, its processes are gone (and with them their GPU memory).
    """
    store = Store(runs_dir)
    job = store.get(job_id)
    if job.status == QUEUED and store.finish(job_id, CANCELLED, "cancelled by user before it started",
                                             expect=(QUEUED,)):
        return store.get(job_id)
    job = store.get(job_id)
    if job.status != RUNNING:
        return job
    store.request_cancel(job_id)
    deadline = time.monotonic() + grace_s
    while job.pgid is None and time.monotonic() < deadline:  # claimed, supervisor starting
        time.sleep(0.1)
        job = store.get(job_id)
        if job.finished:
            return job
    pgid = job.pgid
    if pgid is not None and group_members(pgid):
        signal_group(pgid, signal.SIGTERM)
        if not wait_group_gone(pgid, max(0.0, deadline - time.monotonic())):
            signal_group(pgid, signal.SIGKILL)
            wait_group_gone(pgid, 5.0)
    # the supervisor normally records "cancelled" itself; if it was killed first, we do
    if store.finish(job_id, CANCELLED, "cancelled by user (its processes were stopped)"):
        from ser_core.jobs.supervisor import close_run_manifest

        close_run_manifest(job.out_dir, CANCELLED, "cancelled by user (its processes were stopped)")
    return store.get(job_id)


def resume(job_id: int, runs_dir: PathLike | None = None, *, start_worker: bool = True,
           restrict_paths: bool = False) -> Job:
    """Queue a failed or cancelled job's command again, into the same output folder, and
    return the new :class:`Job`.

    A training, cross-validation or fine-tuning command that finds its stopped run there
    continues after its last completed epoch (and skips its finished folds:
    :mod:`ser_core.training.resume`); another kind simply runs again. Queued, running and
    succeeded jobs are refused with a sentence, and so is a job whose output folder another
    queued or running job now writes to. ``restrict_paths`` as in :func:`submit`.
    """
    store = Store(runs_dir)
    reconcile(store)
    old = store.get(job_id)
    if not old.finished:
        raise JobError(f"Job {job_id} is {old.status}; only a failed or cancelled job can be resumed.")
    if old.status == SUCCEEDED:
        raise JobError(f"Job {job_id} succeeded; there is nothing left to resume.")
    if restrict_paths:
        from ser_core.sandbox import check_job_paths

        check_job_paths(old.argv)
    out = (old.out_dir, old.progress_path)
    new = store.insert(old.kind, list(old.argv), lambda _id: list(old.command), old.cwd,
                       dict(old.env), old.gpus, lambda _id: out)
    if start_worker:
        ensure_worker(store.runs_dir)
    return new


def read_log(job_id: int, runs_dir: PathLike | None = None, tail_bytes: int | None = None) -> str:
    """The job's log (stdout + stderr of its command, with the supervisor's notes); with
    ``tail_bytes``, only about that much of its end."""
    job = Store(runs_dir).get(job_id)
    try:
        with open(job.log_path, "rb") as fh:
            if tail_bytes:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - int(tail_bytes)))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def follow_log(job_id: int, runs_dir: PathLike | None = None, poll_s: float = 0.5) -> Iterator[str]:
    """Yield the log's text as it grows until the job has finished (like ``tail -f``)."""
    store = Store(runs_dir)
    pos = 0
    while True:
        job = store.get(job_id)
        try:
            with open(job.log_path, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos += len(chunk)
        except FileNotFoundError:
            chunk = b""
        if chunk:
            yield chunk.decode("utf-8", "replace")
        elif job.finished:
            return
        else:
            reconcile(store)
            time.sleep(poll_s)


def progress_history(job_id: int, runs_dir: PathLike | None = None,
                     events: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every record of the job's ``progress.jsonl`` (the trainer's machine-readable progress),
    oldest first; optionally only records whose ``event`` is in ``events``. Malformed or
    partly written lines are skipped."""
    job = Store(runs_dir).get(job_id)
    if not job.progress_path:
        return []
    try:
        raw = Path(job.progress_path).read_bytes()
    except FileNotFoundError:
        return []
    records = [r for r in map(parse_progress_line, raw.split(b"\n")[:-1]) if r is not None]
    if events:
        records = [r for r in records if r.get("event") in set(events)]
    return records


def list_finished_checkpoints(runs_dir: PathLike | None = None) -> list[dict[str, Any]]:
    """Checkpoints produced by succeeded training jobs, newest job first:
    ``{"job_id", "kind", "finished_at", "checkpoint", "model", "labels", "metrics", "meta"}``
    (``meta``: the checkpoint's :class:`~ser_core.checkpoint.CheckpointMeta`). Checkpoints since deleted are left out."""
    from ser_core.checkpoint import read_meta
    from ser_core.errors import CheckpointError

    found = []
    for job in Store(runs_dir).list((SUCCEEDED,)):
        for path in job.checkpoints:
            try:
                meta = read_meta(path)
            except CheckpointError:
                continue
            found.append({"job_id": job.id, "kind": job.kind, "finished_at": job.finished_at,
                          "checkpoint": path, "best": path == job.checkpoint,
                          "model": meta.model, "labels": meta.labels,
                          "metrics": meta.metrics, "meta": meta})
    return found


def worker_info(runs_dir: PathLike | None = None) -> dict[str, Any] | None:
    """The worker's pid, slots, heartbeat; ``alive`` / ``responding``; None if none registered."""
    return worker_status(Store(runs_dir))


def wait(job_id: int, runs_dir: PathLike | None = None, timeout_s: float | None = None,
         poll_s: float = 0.5) -> Job:
    """Block until the job has finished (or ``timeout_s``); returns its latest state."""
    store = Store(runs_dir)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        reconcile(store)
        job = store.get(job_id)
        if job.status in FINISHED or (deadline is not None and time.monotonic() >= deadline):
            return job
        time.sleep(poll_s)


__all__ = ["submit", "list_jobs", "get_job", "cancel", "resume", "read_log", "follow_log", "progress_history",
           "list_finished_checkpoints", "worker_info", "wait", "Job", "JobError"]
