"""Process bookkeeping for jobs: liveness without pid-reuse mistakes, process groups, GPUs.

Linux first (``/proc``); elsewhere on POSIX the checks fall back to ``kill(pid, 0)``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

_PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (index 0 = state)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def process_start(pid: int) -> str | None:
    """An identity for process ``pid``: boot id + start time in clock ticks (None if unknown)."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return f"{_boot_id()}:{fields[19]}"


def is_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``start`` is given, is that same process."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat_fields(pid)
    if fields is None:
        return not _PROC.is_dir()  # no /proc: trust kill(0)
    if fields[0] in ("Z", "X"):
        return False
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False
    return True


def group_members(pgid: int | None) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    if not pgid:
        return []
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def signal_group(pgid: int | None, sig: int) -> bool:
    """Send ``sig`` to every process of group ``pgid``; False if the group is gone."""
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def wait_group_gone(pgid: int | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def describe_exit(returncode: int) -> str:
    """A sentence for a ``Popen.returncode`` (negative = killed by that signal)."""
    if returncode == 0:
        return "exited normally (status 0)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        text = f"killed by {name} (signal {-returncode})"
        if -returncode == signal.SIGKILL:
            text += "; if nobody killed it, the system probably ran out of memory (OOM killer)"
        return text
    if returncode > 128 and returncode - 128 in {s.value for s in signal.Signals}:
        return f"exited with status {returncode} (a shell's way of saying killed by " \
               f"{signal.Signals(returncode - 128).name})"
    return f"exited with status {returncode}"


def gpu_ids() -> list[str]:
    """GPU ids jobs may use: ``CUDA_VISIBLE_DEVICES`` when set, else what ``nvidia-smi -L``
    lists, else none (CPU-only). Does not import torch or touch the GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        return [] if ids in (["-1"], []) else ids
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """In a child (``preexec_fn``): die with ``sig`` when the parent dies (Linux; else no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass
