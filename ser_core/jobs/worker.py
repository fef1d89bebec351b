"""The worker: takes queued jobs in order and starts each under a supervisor.

One worker per runs folder (an ``flock`` on ``runs/worker.lock`` decides; a second one exits
at once). It has as many slots as the machine has GPUs (one job per GPU; ``CUDA_VISIBLE_DEVICES``
tells each job its GPU), or one slot on a CPU-only machine; ``SER_JOBS_CONCURRENCY`` or
``--concurrency`` changes that. A job that asks for several GPUs takes that many slots and
runs under ``torchrun``.

:func:`ensure_worker` starts one on demand, detached (double fork, new session) so that it
outlives the app or shell that submitted; it exits after ``SER_JOBS_IDLE_EXIT`` seconds
(default 60) with nothing queued or running. ``python -m ser_core jobs worker`` runs one in
the foreground, for as long as you like.

Stopping the worker does not stop running jobs: each runs under its own supervisor in its own
session, which records the outcome. A new worker adopts the jobs still running.

:func:`reconcile` turns jobs whose processes died without recording an outcome into failed
jobs with a reason; the worker calls it every few seconds and so do ``list``/``get``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ser_core.jobs.params import THREAD_VARS, job_env
from ser_core.jobs.procs import gpu_ids, group_members, is_alive, process_start, signal_group
from ser_core.jobs.store import FAILED, QUEUED, RUNNING, Job, Store

LOCK_NAME = "worker.lock"
LOG_NAME = "worker.log"
DEFAULT_IDLE_EXIT_S = 60.0
#: A claimed job whose supervisor has not registered after this long, with no worker alive,
#: is failed by the reconciler.
START_GRACE_S = 15.0
#: A worker whose heartbeat is older than this is reported as not responding.
HEARTBEAT_STALE_S = 60.0


def default_concurrency(gpus: list[str]) -> int:
    env = os.environ.get("SER_JOBS_CONCURRENCY")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, len(gpus))


def cpu_thread_env(concurrency: int, environ: dict[str, str] | None = None,
                   cpus: int | None = None) -> dict[str, str]:
    """Thread settings for a CPU job when ``concurrency`` jobs share this machine's cores.

    torch sizes its OpenMP pool to every core, and its threads spin while they wait for each
    other. Measured on 2 cores with a small LSTM (``cnn_bilstm``, 26 segments): two jobs at
    once took 1.9-2.0 s per epoch with 2 threads each and 0.8-0.9 s with one; one job beside
    a busy single-thread process took 72 s with 2 threads and 1.1 s with one. So each of
    ``concurrency`` CPU jobs gets its share of the cores. Nothing is set for one job at a
    time, or where the worker's environment already sets a variable (a job's own ``env`` is
    applied after this and wins too)."""
    environ = os.environ if environ is None else environ
    if concurrency <= 1:
        return {}
    share = str(max(1, (cpus or os.cpu_count() or 1) // concurrency))
    return {v: share for v in THREAD_VARS if v not in environ}


def worker_status(store: Store) -> dict | None:
    """The worker's row with ``alive`` and ``responding`` added, or None if none registered."""
    w = store.worker()
    if w is None:
        return None
    w["alive"] = is_alive(w["pid"], w["pid_start"])
    w["responding"] = w["alive"] and time.time() - w["heartbeat_at"] < HEARTBEAT_STALE_S
    return w


def reconcile(store: Store) -> list[int]:
    """Mark failed every running job whose supervisor is gone; returns their ids."""
    running = store.list((RUNNING,))
    if not running:
        return []
    w = worker_status(store)
    failed = []
    for job in running:
        if job.pid is None:  # claimed; is the worker that claimed it still starting it?
            claimer_alive = bool(w and w["alive"] and w["pid"] == job.worker_pid)
            if claimer_alive or time.time() - (job.started_at or 0) < START_GRACE_S:
                continue
            reason = "the worker stopped before the job's process started"
        elif not is_alive(job.pid, job.pid_start):
            reason = (f"the job's process (pid {job.pid}) disappeared without recording an outcome: "
                      "it was killed (by a user, or by the system when out of memory) or the "
                      "machine restarted")
        else:
            continue
        if job.pgid and job.pgid == job.pid and group_members(job.pgid):
            signal_group(job.pgid, signal.SIGKILL)  # leftovers of the dead supervisor's group
        if store.finish(job.id, FAILED, reason):
            failed.append(job.id)
            from ser_core.jobs.supervisor import close_run_manifest

            close_run_manifest(job.out_dir, FAILED, reason)
    return failed


def ensure_worker(runs_dir: str | os.PathLike | None = None, concurrency: int | None = None) -> int | None:
    """Start a detached worker for ``runs_dir`` unless one is alive; returns the live one's pid
    (None when one was just started)."""
    store = Store(runs_dir)
    w = worker_status(store)
    if w and w["alive"]:
        return int(w["pid"])
    cmd = [sys.executable, "-m", "ser_core.jobs", "worker", "--daemon", "--runs", str(store.runs_dir)]
    if concurrency:
        cmd += ["--concurrency", str(int(concurrency))]
    launcher = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                                env={**os.environ, **job_env()})
    launcher.wait(timeout=60)  # the launcher forks the worker and exits at once
    return None


class Worker:
    def __init__(self, runs_dir: str | os.PathLike | None = None, concurrency: int | None = None,
                 idle_exit_s: float | None = None, once: bool = False, poll_s: float = 0.5):
        self.store = Store(runs_dir)
        self.gpus = gpu_ids()
        self.concurrency = int(concurrency or default_concurrency(self.gpus))
        # slot i -> GPU id (round robin when there are more slots than GPUs) or None for CPU
        self.slots: list[str | None] = [self.gpus[i % len(self.gpus)] if self.gpus else None
                                        for i in range(self.concurrency)]
        self.busy: dict[int, list[int]] = {}  # job id -> slot indices
        self.children: dict[int, subprocess.Popen] = {}  # job id -> supervisor we started
        self.idle_exit_s = idle_exit_s
        self.once = once
        self.poll_s = poll_s
        self.stopping = False
        self.pid = os.getpid()
        self.log = logging.getLogger(f"ser_core.jobs.worker.{self.pid}")

    # -- slots ------------------------------------------------------------------------------
    def _free(self) -> list[int]:
        used = {s for slots in self.busy.values() for s in slots}
        return [i for i in range(len(self.slots)) if i not in used]

    def _pick(self, gpus: int) -> list[int] | None:
        free = self._free()
        if gpus == 1:
            return free[:1] or None
        chosen, seen = [], set()
        for i in free:
            if self.slots[i] is not None and self.slots[i] not in seen:
                chosen.append(i)
                seen.add(self.slots[i])
        return chosen[:gpus] if len(chosen) >= gpus else None

    def _device(self, slots: list[int]) -> str:
        ids = [self.slots[i] for i in slots]
        return "cpu" if ids[0] is None else "cuda:" + ",".join(ids)

    # -- main loop --------------------------------------------------------------------------
    def run(self) -> int:
        lock_fd = _acquire_lock(self.store.runs_dir / LOCK_NAME, wait_s=5.0)
        if lock_fd is None:
            self.log.info("another worker holds %s; exiting", self.store.runs_dir / LOCK_NAME)
            return 0
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            self.store.register_worker(self.pid, process_start(self.pid), socket.gethostname(),
                                       self.concurrency, [s or "cpu" for s in self.slots])
            self.log.info("worker %d: runs %s, %d slot(s) %s", self.pid, self.store.runs_dir,
                          self.concurrency, [s or "cpu" for s in self.slots])
            reconcile(self.store)
            self._adopt()
            self._loop()
        finally:
            self.store.clear_worker(self.pid)
            os.close(lock_fd)
            self.log.info("worker %d: exiting", self.pid)
        return 0

    def _on_signal(self, signum, _frame):
        self.stopping = True

    def _adopt(self) -> None:
        """Jobs still running from a previous worker keep their GPUs' slots (a free slot of
        the same GPU, else any free slot; none if all are taken: the job is still watched)."""
        for job in self.store.list((RUNNING,)):
            wanted = [] if job.device in (None, "cpu") else job.device.removeprefix("cuda:").split(",")
            slots: list[int] = []
            for gid in wanted or [None]:
                free = [i for i in self._free() if i not in slots]
                match = [i for i in free if self.slots[i] == gid] or free
                if match:
                    slots.append(match[0])
            self.busy[job.id] = slots
            self.log.info("adopted running job %d on %s", job.id, job.device)

    def _loop(self) -> None:
        last_beat = last_reconcile = 0.0
        idle_since = time.monotonic()
        while not self.stopping:
            now = time.monotonic()
            if now - last_beat >= 2.0:
                self.store.heartbeat(self.pid)
                last_beat = now
            self._reap()
            if now - last_reconcile >= 5.0:
                reconcile(self.store)
                last_reconcile = now
            while not self.stopping:
                job = self.store.claim_next(self.pid, lambda g: self._pick(g) is not None)
                if job is None:
                    break
                self._start(job)
            if self.busy:
                idle_since = now
            elif not self.store.counts().get(QUEUED):
                if self.once:
                    return
                if self.idle_exit_s is not None and now - idle_since >= self.idle_exit_s:
                    if self.store.clear_worker(self.pid, only_if_idle=True):
                        return
            time.sleep(self.poll_s)

    def _start(self, job: Job) -> None:
        slots = self._pick(job.gpus) or []
        device = self._device(slots)
        env = {**os.environ, **job_env()}
        if device != "cpu":
            env["CUDA_VISIBLE_DEVICES"] = device.removeprefix("cuda:")
        else:
            env.update(cpu_thread_env(self.concurrency))
        cmd = [sys.executable, "-m", "ser_core.jobs", "supervise", str(self.store.runs_dir), str(job.id)]
        try:
            proc = subprocess.Popen(cmd, start_new_session=True, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            self.store.finish(job.id, FAILED, f"could not start the job's supervisor: {exc}")
            return
        # the supervisor records pid/pgid itself too; this closes the window before it does
        self.store.update(job.id, device=device, pid=proc.pid, pgid=proc.pid,
                          pid_start=process_start(proc.pid))
        self.busy[job.id] = slots
        self.children[job.id] = proc
        self.log.info("job %d (%s) started on %s, supervisor pid %d", job.id, job.kind, device, proc.pid)

    def _reap(self) -> None:
        for job_id in list(self.busy):
            proc = self.children.get(job_id)
            if proc is not None:
                rc = proc.poll()
                if rc is None:
                    continue
                del self.children[job_id]
                job = self.store.get(job_id)
                if job.status == RUNNING:
                    self.store.finish(job_id, FAILED, f"the job's supervisor exited (status {rc}) "
                                                      "without recording an outcome")
            else:  # adopted: not our child
                job = self.store.get(job_id)
                if job.status == RUNNING and is_alive(job.pid, job.pid_start):
                    continue
                if job.status == RUNNING:
                    reconcile(self.store)
            del self.busy[job_id]
            self.log.info("job %d finished: %s", job_id, self.store.get(job_id).status)


def _acquire_lock(path: Path, wait_s: float):
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.2)


def run_worker(runs_dir=None, concurrency=None, idle_exit_s=None, once=False, log_to_stderr=True) -> int:
    """Run a worker in this process until stopped (or idle / ``once`` done)."""
    store = Store(runs_dir)
    handlers = [logging.FileHandler(store.runs_dir / LOG_NAME)]
    if log_to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    logger = logging.getLogger("ser_core.jobs.worker")
    logger.setLevel(logging.INFO)
    for h in handlers:
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(h)
    try:
        return Worker(store.runs_dir, concurrency, idle_exit_s, once).run()
    except Exception:
        logger.exception("worker crashed (running jobs carry on under their supervisors)")
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def _daemon_main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m ser_core.jobs worker")
    p.add_argument("--runs", required=True)
    p.add_argument("--concurrency", type=int)
    p.add_argument("--idle-exit", type=float,
                   default=float(os.environ.get("SER_JOBS_IDLE_EXIT", DEFAULT_IDLE_EXIT_S)))
    p.add_argument("--daemon", action="store_true", help="fork into the background first")
    args = p.parse_args(argv)
    if args.daemon:
        if os.fork() > 0:  # the launcher returns at once; the worker is re-parented to init
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    return run_worker(args.runs, args.concurrency, args.idle_exit, log_to_stderr=not args.daemon)
