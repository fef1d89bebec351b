"""Helpers shared by the job tests (imported as a plain module: tests/jobs is on sys.path)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ser_core import jobs
from ser_core.cli._job_args import job_from_argv
from ser_core.jobs.procs import is_alive
from ser_core.jobs.store import Store

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout_s: float = 30.0, poll_s: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def stop_worker(store: Store, timeout_s: float = 15.0) -> None:
    w = store.worker()
    if w and is_alive(w["pid"], w["pid_start"]):
        os.kill(w["pid"], signal.SIGTERM)
        wait_for(lambda: not is_alive(w["pid"], w["pid_start"]), timeout_s, what="the worker to stop")


def submit(kind: str, args: list[str], runs, **kw):
    """``jobs submit KIND -- ARGS`` as the CLI does it: parse, then queue the typed job."""
    return jobs.submit(job_from_argv(kind, args), runs, **kw)
