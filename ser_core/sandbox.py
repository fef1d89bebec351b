"""Which folders of the server a person using the app may browse, and who may run jobs.

The app's folder fields (Classify's "From a corpus", Datasets, Train's corpus folders) are
free text typed by whoever reaches the page. Unchecked, they would let that person list and
play any audio file on the server, learn which folders exist, or start a walk of the whole
disk. So the app only opens folders *under an allowed root*:

* the data root (``$SER_DATA_ROOT``, else ``../shared/data`` beside the repository),
* the runs folder (``$SER_RUNS_DIR``, else ``./runs``),
* every folder listed in ``$SER_ALLOWED_ROOTS`` (separated by ``os.pathsep``, ``:`` on Linux).

A path is resolved first (``~``, ``..`` and symbolic links), then compared with the resolved
roots, so ``DATA/../../etc`` or a symlink from inside a root to ``/`` are refused. The command
line is not sandboxed: whoever types ``python -m ser_core ...`` already has a shell.

Access control for a shared machine: when ``$SER_ADMIN_TOKEN`` is set, the Train page asks
for it before submitting or cancelling a job (:func:`token_required`, :func:`token_matches`).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Iterable

from ser_core.errors import SerError

ENV_ALLOWED = "SER_ALLOWED_ROOTS"
ENV_TOKEN = "SER_ADMIN_TOKEN"


class AccessError(SerError):
    """A path outside the allowed roots, or a protected action without the admin token."""


def allowed_roots(environ: dict[str, str] | None = None) -> list[Path]:
    """The resolved folders the app may browse (existing or not), without duplicates."""
    from ser_core.data.registry import default_data_root
    from ser_core.jobs.store import default_runs_dir

    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    data = Path(env["SER_DATA_ROOT"]) if env.get("SER_DATA_ROOT") else default_data_root()
    if data is not None:
        candidates.append(data)
    candidates.append(Path(env.get("SER_RUNS_DIR") or "runs") if environ is not None
                      else default_runs_dir())
    candidates += [Path(p) for p in env.get(ENV_ALLOWED, "").split(os.pathsep) if p.strip()]
    roots: list[Path] = []
    for c in candidates:
        r = c.expanduser().resolve()
        if r not in roots:
            roots.append(r)
    return roots


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_path(path: str | os.PathLike, roots: Iterable[Path] | None = None,
               what: str = "folder") -> Path:
    """``path`` resolved (``~``, ``..``, symlinks) when it lies under an allowed root; else
    :class:`AccessError` with a sentence saying which roots are allowed and how to add one."""
    text = str(path).strip()
    if not text:
        raise AccessError(f"Give a {what}.")
    roots = list(allowed_roots() if roots is None else roots)
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable component
        raise AccessError(f"{text} cannot be resolved: {exc}.") from None
    if any(_inside(resolved, r) for r in roots):
        return resolved
    listed = ", ".join(str(r) for r in roots) or "(none)"
    raise AccessError(f"{text} is outside the folders this app may open ({listed}). "
                      f"Set {ENV_ALLOWED} to add a folder (see README, Security and privacy).")


#: Options of a job's arguments that name folders it reads or writes.
JOB_PATH_OPTIONS = ("--root", "--out")


def check_job_paths(argv: Iterable[str]) -> None:
    """Every folder a job's arguments name (``--root a,b``, ``--out DIR``) lies under the
    allowed roots (the app's submissions; the command line is not restricted)."""
    args = list(argv)
    roots = allowed_roots()
    for i, arg in enumerate(args):
        name, _, inline = arg.partition("=")
        if name not in JOB_PATH_OPTIONS:
            continue
        value = inline or (args[i + 1] if i + 1 < len(args) else "")
        for part in (value.split(",") if name == "--root" else [value]):
            if part.strip():
                check_path(part.strip(), roots, "folder")


def token_required(environ: dict[str, str] | None = None) -> bool:
    """Whether ``$SER_ADMIN_TOKEN`` guards job submission and cancellation."""
    env = os.environ if environ is None else environ
    return bool(env.get(ENV_TOKEN, "").strip())


def token_matches(given: str | None, environ: dict[str, str] | None = None) -> bool:
    """``True`` when no token is configured, or ``given`` equals it (constant-time compare)."""
    env = os.environ if environ is None else environ
    expected = env.get(ENV_TOKEN, "").strip()
    if not expected:
        return True
    return hmac.compare_digest((given or "").strip().encode(), expected.encode())


def require_token(given: str | None, action: str = "do this") -> None:
    if not token_matches(given):
        raise AccessError(f"The admin token is needed to {action}: enter it on the Train page "
                          f"(the server's {ENV_TOKEN}).")
