"""Fixtures for job tests: an isolated runs folder whose worker and jobs are stopped afterwards."""

from __future__ import annotations

import signal

import pytest
from jobs_helpers import stop_worker

from ser_core.jobs.procs import group_members, signal_group
from ser_core.jobs.store import RUNNING, Store


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A fresh runs folder (also ``$SER_RUNS_DIR``); on-demand workers idle out after 5 s."""
    path = tmp_path / "runs"
    monkeypatch.setenv("SER_RUNS_DIR", str(path))
    monkeypatch.setenv("SER_JOBS_IDLE_EXIT", "5")
    monkeypatch.delenv("SER_JOBS_CONCURRENCY", raising=False)
    monkeypatch.chdir(tmp_path)
    yield path
    if (path / "jobs.sqlite").exists():
        store = Store(path)
        try:
            stop_worker(store)
        finally:
            for job in store.list((RUNNING,)):
                if job.pgid and group_members(job.pgid):
                    signal_group(job.pgid, signal.SIGKILL)
