"""``python -m ser_core jobs selftest``: a diagnostic job that exercises the job machinery.

It does no learning. It runs for ``--seconds``, writing ``progress.jsonl`` lines in the
trainer's format (``event``, ``epoch``, ``step``, ``loss``, ``eta_s``...) to ``--out``, then
writes ``selftest.json`` there (atomically) and exits with ``--exit-code``. Options make it
behave like the awkward cases a real job can present: a subprocess in its process group
(``--spawn-child``, like data-loader workers), GPU memory held (``--cuda-mb``), SIGTERM
ignored (``--ignore-sigterm``). Submit it to check that jobs run, report progress, can be
cancelled and release the GPU on this machine::

    python -m ser_core jobs submit selftest -- --seconds 5
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ser_core.jobs.params import THREAD_VARS


def run_selftest(out: str | Path, seconds: float = 5.0, steps: int = 10, exit_code: int = 0,
                 spawn_child: bool = False, cuda_mb: int = 0, ignore_sigterm: bool = False) -> int:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    start = {"event": "start", "kind": "selftest", "pid": os.getpid(), "pgid": os.getpgid(0),
             "steps": steps, "epochs": 1, "time": time.time(),
             "threads": {v: os.environ.get(v) for v in THREAD_VARS}}
    child = None
    if spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        start["child_pid"] = child.pid
    held = None
    if cuda_mb:
        import torch

        held = torch.empty(int(cuda_mb) * 2**20, dtype=torch.uint8, device="cuda")
        start["device"] = torch.cuda.get_device_name(held.device)
        start["cuda_mb"] = int(cuda_mb)
    else:
        start["device"] = "cpu"
    t0 = time.monotonic()
    with open(out / "progress.jsonl", "a", buffering=1) as fh:
        fh.write(json.dumps(start) + "\n")
        for step in range(1, steps + 1):
            time.sleep(seconds / max(steps, 1))
            elapsed = time.monotonic() - t0
            fh.write(json.dumps({"event": "step", "epoch": 1, "epochs": 1, "step": step, "steps": steps,
                                 "loss": round(1.0 / step, 6), "elapsed_s": round(elapsed, 3),
                                 "eta_s": round(elapsed / step * (steps - step), 3),
                                 "time": time.time()}) + "\n")
        result = {"steps": steps, "seconds": seconds, "pid": os.getpid(), "exit_code": exit_code,
                  "elapsed_s": round(time.monotonic() - t0, 3), "finished_at": time.time()}
        tmp = out / ".selftest.json.tmp"
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, out / "selftest.json")
        fh.write(json.dumps({"event": "end", "exit_code": exit_code, "time": time.time(),
                             "eta_s": 0}) + "\n")
    del held
    if child is not None:
        child.terminate()
        child.wait()
    return exit_code
