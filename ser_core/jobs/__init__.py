"""Background jobs: training, cross-validation, fine-tuning and evaluation runs that outlive
the app.

A job is the command a user could type, ``python -m ser_core KIND ARGS...``, run by a
detached worker in its own process group; its state lives in SQLite in the runs folder
(``./runs``, ``$SER_RUNS_DIR`` or a ``runs_dir`` argument). Processes::

    app / CLI ──submit──▶ jobs.sqlite ◀── worker (one per runs folder, started on demand)
                                ▲              │ one supervisor per job, new session
                                │              ▼
                                └────── supervisor ──▶ python -m ser_core train ...
                                        (tails progress.jsonl, records the outcome)

Modules: :mod:`~ser_core.jobs.store` (SQLite), :mod:`~ser_core.jobs.params` (validation at
submit time), :mod:`~ser_core.jobs.worker` (queue, slots, reconciler),
:mod:`~ser_core.jobs.supervisor` (one job), :mod:`~ser_core.jobs.api` (what the app calls),
:mod:`~ser_core.jobs.selftest` (the ``jobs selftest`` diagnostic command).
"""

from ser_core.jobs.api import (  # noqa: F401
    cancel,
    follow_log,
    get_job,
    list_finished_checkpoints,
    list_jobs,
    progress_history,
    read_log,
    resume,
    submit,
    wait,
    worker_info,
)
from ser_core.jobs.params import KINDS, JobParams  # noqa: F401
from ser_core.jobs.store import (  # noqa: F401
    CANCELLED,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    Job,
    JobError,
    default_runs_dir,
)
