"""One job's supervisor: ``python -m ser_core.jobs supervise RUNS_DIR JOB_ID``.

The worker starts one supervisor per job in a new session, so the supervisor leads the job's
own process group; the command (``python -m ser_core KIND ...``, or ``torchrun`` for a
several-GPU job) runs as its child in that group, with stdout and stderr appended to the
job's ``log.txt``. The supervisor

* tails the command's ``progress.jsonl`` into the job record (at most once a second);
* notices a cancel request in the database and stops the command (SIGTERM, then SIGKILL
  after a grace period), in case the canceller could not signal it itself;
* when the command ends, stops leftover processes of the group (e.g. data-loader workers)
  and records the outcome exactly once: succeeded (with the checkpoints found in the output
  folder), failed (exit status or signal, with the last ``error:`` or exception line of the
  log) or cancelled.

It does not depend on the worker: if the worker (or the app that started it) dies, the job
carries on and its outcome is still recorded. If the supervisor itself is killed, its child
gets SIGKILL (Linux parent-death signal) and the reconciler marks the job failed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ser_core.jobs.params import TRAINING_KINDS, job_env
from ser_core.jobs.procs import (describe_cancel, describe_exit, group_members, process_start,
                                 set_parent_death_signal)
from ser_core.jobs.store import CANCELLED, FAILED, FINISHED, RUNNING, SUCCEEDED, Job, Store

#: Seconds between SIGTERM and SIGKILL when the supervisor itself stops a cancelled command.
CANCEL_GRACE_S = 10.0
CHECKPOINT_FILES = ("config.json", "model.safetensors")  # ser_core.checkpoint's format


class ProgressTail:
    """Incremental reader of a JSON-lines progress file written by another process.

    Reads only whole lines, skips lines that are not JSON objects, starts over when the file
    is replaced or truncated. ``latest`` merges every record's top-level keys (the newest
    value wins), so it holds the latest epoch, step, fold, loss, metrics and ETA whatever
    events carried them; ``last`` is the newest record itself.
    """

    def __init__(self, path: str | None, skip_existing: bool = False):
        self.path = Path(path) if path else None
        self.pos = 0
        self.partial = b""
        self.ino = None
        if skip_existing and self.path is not None:  # a previous run's lines in a reused --out
            try:
                st = self.path.stat()
                self.ino, self.pos = st.st_ino, st.st_size
            except OSError:
                pass
        self.latest: dict[str, Any] = {}
        self.last: dict[str, Any] | None = None
        self.lines = 0

    def poll(self) -> bool:
        if self.path is None:
            return False
        try:
            st = self.path.stat()
        except OSError:
            return False
        if st.st_ino != self.ino or st.st_size < self.pos:
            self.ino, self.pos, self.partial = st.st_ino, 0, b""
        if st.st_size == self.pos:
            return False
        with open(self.path, "rb") as fh:
            fh.seek(self.pos)
            chunk = fh.read()
        self.pos += len(chunk)
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        changed = False
        for raw in complete:
            record = parse_progress_line(raw)
            if record is not None:
                self.latest.update(record)
                self.last = record
                self.lines += 1
                changed = True
        return changed

    def summary(self) -> dict[str, Any]:
        return {**self.latest, "records": self.lines}


def parse_progress_line(raw: bytes | str) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")


def last_error_line(log_path: str, max_bytes: int = 32768) -> str | None:
    """The last ``error: ...`` line, else the last exception line, in the log's tail."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for pattern in (re.compile(r"^error: .+"), _EXC_LINE):
        for line in reversed(lines):
            if pattern.match(line.strip()):
                return line.strip()[:400]
    return None


def find_checkpoints(out_dir: str | None) -> list[str]:
    """Checkpoint folders under ``out_dir`` (itself included), best guess first.

    The best is ``out_dir`` itself, else ``out_dir/checkpoint`` (where the trainer puts the
    best fold's checkpoint) or a folder named ``best``, else the shallowest one. Hidden folders
    (temporary, being written) are skipped.
    """
    if not out_dir or not Path(out_dir).is_dir():
        return []
    root = Path(out_dir)
    found = []
    for cfg in root.rglob(CHECKPOINT_FILES[0]):
        d = cfg.parent
        rel = d.relative_to(root).parts
        if (d / CHECKPOINT_FILES[1]).is_file() and not any(p.startswith(".") for p in rel):
            found.append(d)
    found.sort(key=lambda d: (d != root, d.name not in ("checkpoint", "best"),
                              len(d.relative_to(root).parts), str(d)))
    return [str(d) for d in found]


def close_run_manifest(out_dir: str | None, status: str, reason: str) -> bool:
    """Make ``OUT/run.json`` agree with the job's outcome when its command could not say so
    itself (killed by SIGKILL or the OOM killer, or its supervisor gone): a manifest still
    saying ``running`` gets the job's final status and why. Returns whether it changed."""
    import datetime as dt

    from ser_core.training.manifest import write_json

    if not out_dir or status not in FINISHED:
        return False
    path = Path(out_dir) / "run.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("status") != "running":
        return False
    manifest.update({"status": "ok" if status == SUCCEEDED else status, "reason": reason,
                     "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "closed_by": "job supervisor (the command did not close its run)"})
    write_json(path, manifest)
    return True


def build_command(job: Job) -> list[str]:
    if job.gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={job.gpus}", "-m", "ser_core", *job.command]
    return [sys.executable, "-m", "ser_core", *job.command]


def supervise(runs_dir: str, job_id: int) -> int:
    store = Store(runs_dir)
    job = store.get(job_id)
    if job.status != RUNNING:
        return 0
    me = os.getpid()
    pgid = os.getpgid(0)
    store.update(job_id, pid=me, pgid=pgid, pid_start=process_start(me))
    Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
    log = open(job.log_path, "ab", buffering=0)
    command = build_command(job)

    def note(text: str) -> None:
        log.write(f"[jobs {time.strftime('%Y-%m-%d %H:%M:%S')}] {text}\n".encode())

    terminated = []

    def on_signal(signum, _frame):  # the group got SIGTERM (cancel) or we were asked to stop
        terminated.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    if store.cancel_requested(job_id):
        store.finish(job_id, CANCELLED, "cancelled before it started")
        return 0
    device = os.environ.get("CUDA_VISIBLE_DEVICES")
    note(f"job {job_id} ({job.kind}) starting on {'cuda:' + device if device else 'cpu'} "
         f"in {job.cwd}: {' '.join(command)}")
    tail = ProgressTail(job.progress_path, skip_existing=True)
    try:
        child = subprocess.Popen(command, cwd=job.cwd, env={**os.environ, **job_env(), **job.env},
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 preexec_fn=set_parent_death_signal)
    except OSError as exc:
        note(f"could not start: {exc}")
        store.finish(job_id, FAILED, f"could not start the command: {exc}")
        return 1
    store.update(job_id, child_pid=child.pid)

    last_write, dirty = 0.0, False
    cancel_at = None
    killed = False
    while True:
        try:
            rc = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        dirty = tail.poll() or dirty
        if dirty and now - last_write >= 1.0:
            store.update(job_id, progress=tail.summary(), progress_at=time.time())
            last_write, dirty = now, False
        if cancel_at is None and (terminated or store.cancel_requested(job_id)):
            cancel_at = now
            note("stop requested: sending SIGTERM to the job's processes")
            _signal_others(pgid, me, signal.SIGTERM)
        elif cancel_at is not None and not killed and now - cancel_at > CANCEL_GRACE_S:
            note(f"still running {CANCEL_GRACE_S:.0f} s after SIGTERM: sending SIGKILL")
            _signal_others(pgid, me, signal.SIGKILL)
            killed = True

    # the command is gone; its leftovers (data-loader workers, shells) go too
    _stop_leftovers(pgid, me)
    tail.poll()
    if tail.lines:
        store.update(job_id, progress=tail.summary(), progress_at=time.time())
    how = describe_exit(rc)
    note(f"command {how}")
    if store.cancel_requested(job_id):
        ok = store.finish(job_id, CANCELLED, describe_cancel(rc), rc)
    elif rc == 0:
        ckpts = find_checkpoints(job.out_dir) if job.kind in TRAINING_KINDS else []
        ok = store.finish(job_id, SUCCEEDED, "finished", rc, checkpoint=ckpts[0] if ckpts else None,
                          checkpoints=ckpts)
    else:
        reason = f"the command {how}"
        if terminated and cancel_at is not None:
            reason = (f"stopped by {signal.Signals(terminated[0]).name} sent to the job from outside "
                      f"(not a cancel); {reason}")
        err = last_error_line(job.log_path)
        if tail.last and tail.last.get("event") == "error" and tail.last.get("message"):
            err = f"error: {tail.last['message']}"
        if err:
            reason += f": {err}"
        ok = store.finish(job_id, FAILED, reason, rc)
    if not ok:
        note("outcome already recorded by someone else (cancel or reconcile)")
    final = store.get(job_id)
    close_run_manifest(final.out_dir, final.status, final.exit_reason or "")
    log.close()
    return 0


def _signal_others(pgid: int, me: int, sig: int) -> None:
    for pid in group_members(pgid):
        if pid != me:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _stop_leftovers(pgid: int, me: int, grace_s: float = 3.0) -> None:
    if not [p for p in group_members(pgid) if p != me]:
        return
    _signal_others(pgid, me, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and [p for p in group_members(pgid) if p != me]:
        time.sleep(0.1)
    _signal_others(pgid, me, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m ser_core.jobs supervise RUNS_DIR JOB_ID", file=sys.stderr)
        return 2
    return supervise(argv[0], int(argv[1]))
