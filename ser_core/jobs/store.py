"""Durable job state: one SQLite database (standard library) in the runs folder.

Layout of a runs folder (default ``./runs``; ``SER_RUNS_DIR`` or a parameter overrides)::

    runs/jobs.sqlite          the job table and the worker's heartbeat (WAL mode)
    runs/worker.lock          held (flock) by the one running worker
    runs/worker.log           the worker's own log
    runs/jobs/<id>/log.txt    stdout + stderr of the job's command
    runs/jobs/<id>/out/       the job's --out when the user gave none

Every change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a crash at any
point leaves either the old record or the new one, never a half-written one. Status changes
are compare-and-set (``UPDATE ... WHERE status = 'running'``): the job's supervisor, the
worker, ``cancel`` and the reconciler may race to finish a job and exactly one wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ser_core.errors import SerError

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

DB_NAME = "jobs.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    argv             TEXT NOT NULL,              -- JSON list: the kind's arguments
    command          TEXT NOT NULL,              -- JSON list: argv after `python -m ser_core`
    cwd              TEXT NOT NULL,
    env              TEXT NOT NULL DEFAULT '{{}}', -- JSON object: extra environment
    gpus             INTEGER NOT NULL DEFAULT 1,
    status           TEXT NOT NULL CHECK (status IN {STATUSES!r}),
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    worker_pid       INTEGER,
    pid              INTEGER,                    -- the job's supervisor (its process group leader)
    pgid             INTEGER,
    pid_start        TEXT,                       -- boot id + start tick: detects pid reuse
    child_pid        INTEGER,                    -- the command itself
    device           TEXT,                       -- 'cpu', 'cuda:0', 'cuda:0,1'
    out_dir          TEXT,
    progress_path    TEXT,
    log_path         TEXT NOT NULL DEFAULT '',
    progress         TEXT NOT NULL DEFAULT '{{}}',
    progress_at      REAL,
    exit_code        INTEGER,
    exit_reason      TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    checkpoint       TEXT,
    checkpoints      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);
CREATE TABLE IF NOT EXISTS worker (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pid          INTEGER NOT NULL,
    pid_start    TEXT,
    host         TEXT,
    concurrency  INTEGER,
    devices      TEXT,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""


class JobError(SerError):
    """A job request that cannot be honoured (unknown id, bad kind or parameters)."""


class JobStoreError(JobError):
    """The job database cannot be used (locked too long, damaged, unwritable)."""


#: Seconds a call waits for another process's write lock before giving up with a sentence.
BUSY_TIMEOUT_S = float(os.environ.get("SER_JOBS_BUSY_TIMEOUT", "30"))


def store_error(path: Path, exc: BaseException) -> JobStoreError:
    """A sentence for an ``sqlite3`` error on the job database at ``path``."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        why = (f"is locked by another process (waited {BUSY_TIMEOUT_S:g} s): a job worker or "
               "another session is writing to it; try again in a moment")
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = ("is damaged (not a usable SQLite database); move it aside and the next call "
               "starts a new job list")
    elif "readonly" in text or "read-only" in text or "unable to open" in text:
        why = "cannot be opened for writing (permissions or a full disk?)"
    else:
        why = f"cannot be used ({exc})"
    return JobStoreError(f"The jobs database {path} {why}.")


def default_runs_dir() -> Path:
    """``$SER_RUNS_DIR`` or ``./runs``."""
    return Path(os.environ.get("SER_RUNS_DIR") or "runs")


def resolve_runs_dir(runs_dir: str | os.PathLike | None = None) -> Path:
    return Path(runs_dir).expanduser().resolve() if runs_dir else default_runs_dir().expanduser().resolve()


@dataclass(frozen=True)
class Job:
    """One row of the job table, decoded. Times are Unix seconds (float) or ``None``."""

    id: int
    kind: str
    argv: list[str]
    command: list[str]
    cwd: str
    env: dict[str, str]
    gpus: int
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker_pid: int | None
    pid: int | None
    pgid: int | None
    pid_start: str | None
    child_pid: int | None
    device: str | None
    out_dir: str | None
    progress_path: str | None
    log_path: str
    progress: dict[str, Any] = field(default_factory=dict)
    progress_at: float | None = None
    exit_code: int | None = None
    exit_reason: str | None = None
    cancel_requested: bool = False
    checkpoint: str | None = None
    checkpoints: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def elapsed_s(self) -> float | None:
        """Seconds it ran (so far, when still running)."""
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["elapsed_s"] = self.elapsed_s
        return d

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        d = dict(row)
        for key, empty in (("argv", "[]"), ("command", "[]"), ("env", "{}"), ("progress", "{}"),
                           ("checkpoints", "[]")):
            d[key] = json.loads(d.get(key) or empty)
        d["cancel_requested"] = bool(d["cancel_requested"])
        return cls(**d)


class Store:
    """The job database of one runs folder. Cheap to create; opens a connection per call.

    A new database is built under a temporary name and linked into place, so a real
    ``jobs.sqlite`` is never empty; one that is empty, not SQLite or fails SQLite's quick
    check is moved aside (never silently replaced: see :func:`ser_core.jobs.dbcheck`)."""

    def __init__(self, runs_dir: str | os.PathLike | None = None):
        from ser_core.jobs.dbcheck import create_atomically, keep_aside_if_damaged

        self.runs_dir = resolve_runs_dir(runs_dir)
        self.path = self.runs_dir / DB_NAME
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobStoreError(f"The runs folder {self.runs_dir} cannot be created: "
                                f"{exc.strerror or exc}.") from None
        keep_aside_if_damaged(self.path)
        if not self.path.exists():
            create_atomically(self.path, self._create_schema)
        with self.connect() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JobError(f"{self.path} was written by a newer ser_core (schema {version}).")
            if version < SCHEMA_VERSION:  # create the schema in one transaction
                conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")

    # -- plumbing ---------------------------------------------------------------------------
    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection; SQLite's own errors (locked too long, damaged file) come out as
        :class:`JobStoreError` with a sentence."""
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            yield conn
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        finally:
            conn.close()

    def job_dir(self, job_id: int) -> Path:
        return self.runs_dir / "jobs" / str(job_id)

    # -- jobs -------------------------------------------------------------------------------
    def insert(self, kind: str, argv: list[str], command_for_id, cwd: str, env: dict[str, str],
               gpus: int, out_for_id) -> Job:
        """Add a queued job. ``command_for_id(id)`` / ``out_for_id(id)`` give the final command
        and output folder once the id is known (both may depend on it). One transaction."""
        now = time.time()
        with self.connect() as conn, transaction(conn):
            cur = conn.execute(
                "INSERT INTO jobs (kind, argv, command, cwd, env, gpus, status, created_at) "
                "VALUES (?, ?, '[]', ?, ?, ?, ?, ?)",
                (kind, json.dumps(argv), cwd, json.dumps(env), gpus, QUEUED, now))
            job_id = int(cur.lastrowid)
            out_dir, progress_path = out_for_id(job_id)
            if out_dir is not None:  # checked inside the write lock: no two live jobs share it
                other = conn.execute("SELECT id FROM jobs WHERE out_dir = ? AND status IN (?, ?) "
                                     "AND id != ?", (out_dir, QUEUED, RUNNING, job_id)).fetchone()
                if other is not None:
                    raise JobError(f"Job {other[0]} (queued or running) already writes to {out_dir}; "
                                   "choose another --out or wait for it to finish.")
            log_path = str(self.job_dir(job_id) / "log.txt")
            conn.execute("UPDATE jobs SET command = ?, out_dir = ?, progress_path = ?, log_path = ? "
                         "WHERE id = ?", (json.dumps(command_for_id(job_id)), out_dir, progress_path,
                                          log_path, job_id))
        self.job_dir(job_id).mkdir(parents=True, exist_ok=True)
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise JobError(f"There is no job {job_id} in {self.runs_dir}.")
        return Job.from_row(row)

    def list(self, statuses: tuple[str, ...] | None = None, limit: int | None = None) -> list[Job]:
        """Jobs, newest first (optionally only some statuses / the latest ``limit``)."""
        sql, params = "SELECT * FROM jobs", []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            params += list(statuses)
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self.connect() as conn:
            return [Job.from_row(r) for r in conn.execute(sql, params).fetchall()]

    def claim_next(self, worker_pid: int, fits) -> Job | None:
        """Mark the oldest queued job running if ``fits(gpus)`` says the free slots can take
        it (strict FIFO: a job that does not fit yet is not overtaken)."""
        with self.connect() as conn, transaction(conn):
            row = conn.execute("SELECT id, gpus FROM jobs WHERE status = ? ORDER BY id LIMIT 1",
                               (QUEUED,)).fetchone()
            if row is None or not fits(int(row["gpus"])):
                return None
            conn.execute("UPDATE jobs SET status = ?, started_at = ?, worker_pid = ? "
                         "WHERE id = ? AND status = ?",
                         (RUNNING, time.time(), worker_pid, row["id"], QUEUED))
        return self.get(row["id"])

    def update(self, job_id: int, **values: Any) -> None:
        """Set columns of a job (JSON-encodes lists and dicts). One transaction."""
        if not values:
            return
        cols = ", ".join(f"{k} = ?" for k in values)
        vals = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in values.values()]
        with self.connect() as conn, transaction(conn):
            conn.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*vals, int(job_id)))

    def finish(self, job_id: int, status: str, reason: str, exit_code: int | None = None,
               expect: tuple[str, ...] = (RUNNING,), **extra: Any) -> bool:
        """Compare-and-set a job to a final ``status``; ``False`` if it was not in ``expect``."""
        assert status in FINISHED
        values = {"status": status, "exit_reason": reason, "exit_code": exit_code,
                  "finished_at": time.time(), **extra}
        cols = ", ".join(f"{k} = ?" for k in values)
        vals = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in values.values()]
        with self.connect() as conn, transaction(conn):
            cur = conn.execute(
                f"UPDATE jobs SET {cols} WHERE id = ? AND status IN ({','.join('?' * len(expect))})",
                (*vals, int(job_id), *expect))
            return cur.rowcount == 1

    def request_cancel(self, job_id: int) -> None:
        with self.connect() as conn, transaction(conn):
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (int(job_id),))

    def cancel_requested(self, job_id: int) -> bool:
        with self.connect() as conn:
            row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return bool(row and row[0])

    def counts(self) -> dict[str, int]:
        with self.connect() as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    # -- the worker -------------------------------------------------------------------------
    def register_worker(self, pid: int, pid_start: str | None, host: str, concurrency: int,
                        devices: list[str]) -> None:
        now = time.time()
        with self.connect() as conn, transaction(conn):
            conn.execute("INSERT OR REPLACE INTO worker (id, pid, pid_start, host, concurrency, devices, "
                         "started_at, heartbeat_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                         (pid, pid_start, host, concurrency, json.dumps(devices), now, now))

    def heartbeat(self, pid: int) -> None:
        with self.connect() as conn, transaction(conn):
            conn.execute("UPDATE worker SET heartbeat_at = ? WHERE id = 1 AND pid = ?", (time.time(), pid))

    def clear_worker(self, pid: int, only_if_idle: bool = False) -> bool:
        """Remove the worker's row. With ``only_if_idle``, only when no job is queued (in the
        same transaction as that check, so a job submitted meanwhile is never stranded)."""
        with self.connect() as conn, transaction(conn):
            if only_if_idle and conn.execute("SELECT 1 FROM jobs WHERE status = ? LIMIT 1",
                                             (QUEUED,)).fetchone():
                return False
            conn.execute("DELETE FROM worker WHERE id = 1 AND pid = ?", (pid,))
            return True

    def worker(self) -> dict[str, Any] | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM worker WHERE id = 1").fetchone()
        if row is None:
            return None
        d = dict(row)
        d["devices"] = json.loads(d["devices"] or "[]")
        return d


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
