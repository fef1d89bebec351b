"""Internal entry points (the user-facing CLI is ``python -m ser_core jobs ...``):

``python -m ser_core.jobs worker --runs DIR [--daemon] [--concurrency N] [--idle-exit S]``
    a worker (what :func:`~ser_core.jobs.worker.ensure_worker` starts);
``python -m ser_core.jobs supervise RUNS_DIR JOB_ID``
    one job's supervisor (what the worker starts).
"""

import sys

from ser_core.jobs import supervisor, worker

if __name__ == "__main__":
    what, rest = (sys.argv[1:2] or [""])[0], sys.argv[2:]
    if what == "worker":
        raise SystemExit(worker._daemon_main(rest))
    if what == "supervise":
        raise SystemExit(supervisor.main(rest))
    print(__doc__, file=sys.stderr)
    raise SystemExit(2)
