"""The job database's file: created atomically, and kept aside (never silently re-created)
when it is damaged.

SQLite treats an empty file as a new, empty database: a ``jobs.sqlite`` truncated to zero
bytes (a full disk, a bad copy) would quietly become an empty job list and the history would
be lost without a word. So a new database is built under a temporary name and linked into
place (a real one is never empty), and at every open a database that is empty, does not
start with SQLite's header, or fails ``PRAGMA quick_check`` is renamed to
``jobs.sqlite.damaged-<time>`` (with its ``-wal``/``-shm`` files) and the caller gets a
:class:`~ser_core.jobs.store.JobStoreError` saying so; the next call starts a new job list.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

SQLITE_HEADER = b"SQLite format 3\x00"


def damage(path: Path) -> str | None:
    """Why the database at ``path`` is unusable, or None (also None when it does not exist)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if size == 0:
        return "it is empty (0 bytes)"
    if head != SQLITE_HEADER:
        return "it is not an SQLite database"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower() or "busy" in str(exc).lower():
            return None  # busy is not damaged
        return f"SQLite cannot read it ({exc})"
    except sqlite3.DatabaseError as exc:
        return f"SQLite cannot read it ({exc})"
    if not row or row[0] != "ok":
        return f"SQLite's check failed ({row[0] if row else 'no answer'})"
    return None


def keep_aside_if_damaged(path: Path) -> None:
    """Rename a damaged database (and its WAL files) and raise ``JobStoreError`` saying so."""
    from ser_core.jobs.store import JobStoreError

    why = damage(path)
    if why is None:
        return
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                os.replace(extra, aside.with_name(aside.name + suffix))
    except FileNotFoundError:  # another process moved it first
        raise JobStoreError(f"The jobs database {path} was damaged ({why}) and has been moved "
                            "aside by another process; try again.") from None
    except OSError as exc:
        raise JobStoreError(f"The jobs database {path} is damaged ({why}) and could not be "
                            f"moved aside: {exc.strerror or exc}.") from None
    raise JobStoreError(f"The jobs database {path} was damaged ({why}); it was kept as {aside} "
                        "and the next action starts a new, empty job list (earlier jobs are in "
                        "that file).")


def create_atomically(path: Path, create: Callable[[sqlite3.Connection], None]) -> None:
    """Build a database with ``create(conn)`` under a temporary name, then link it into place
    unless another process got there first."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{time.monotonic_ns()}")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            create(conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{tmp}{suffix}")
            except FileNotFoundError:
                pass
