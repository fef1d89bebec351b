"""A real ``streamlit run app.py`` for the browser tests: start it on a free port, wait until
it answers its health check, and stop its whole process group afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, *options: str,
                     start_timeout: float = 60.0) -> Iterator[str]:
    """``streamlit run app.py --server.port P OPTIONS...`` with ``env``; yields its URL. On exit
    the server gets SIGTERM (SIGKILL after 20 s); it must be gone by then."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
                                 "--server.port", str(port), *options],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert proc.returncode is not None, "the server did not shut down"


def wait_idle(page, settle: float = 0.8) -> None:
    """Wait until the script has finished running (no running-status widget for a while)."""
    quiet_since = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = page.evaluate("() => !!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.1)
    raise TimeoutError("the app kept running for 120 s")
