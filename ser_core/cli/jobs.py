"""python -m ser_core jobs ACTION: background training, evaluation and fine-tuning jobs.

    jobs submit [--gpus N] KIND -- ARGS...   queue `python -m ser_core KIND ARGS...`, print its id
    jobs list [--json] [--status S]          jobs, newest first, with progress
    jobs show ID [--json]                    one job in full
    jobs cancel ID                           stop a queued or running job (its process group)
    jobs resume ID                           queue a failed or cancelled job again (same output
                                             folder: training continues after its last epoch)
    jobs logs ID [--follow] [--tail BYTES]   the job's output
    jobs wait ID [--timeout S]               block until it finishes (exit 0 when it succeeded)
    jobs checkpoints [--json]                checkpoints written by succeeded training jobs
    jobs worker [--once] [--concurrency N]   run the worker in the foreground
    jobs selftest --out DIR [--seconds S]    diagnostic job (no learning): progress + a file

Every action takes --runs DIR (default $SER_RUNS_DIR or ./runs). KIND is train, cv,
finetune, evaluate or selftest (a diagnostic). See README "Jobs".
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(sub) -> None:
    from ser_core.jobs.params import KINDS

    p = sub.add_parser("jobs", help="background training, evaluation and fine-tuning jobs",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=lambda a: (p.print_help(), 0)[1])
    acts = p.add_subparsers(dest="jobs_action", metavar="ACTION")

    def action(name, fn, help_):
        a = acts.add_parser(name, help=help_, description=help_)
        a.add_argument("--runs", metavar="DIR", help="runs folder (default $SER_RUNS_DIR or ./runs)")
        a.set_defaults(handler=fn)
        return a

    a = action("submit", _submit, "queue a job: python -m ser_core KIND ARGS... (returns at once)")
    a.add_argument("--gpus", type=int, default=1, help="GPUs for a training job (>1: torchrun)")
    a.add_argument("--no-worker", action="store_true", help="do not start a worker if none runs")
    a.add_argument("--json", action="store_true", help="print the job as JSON")
    a.add_argument("kind", choices=list(KINDS), help="what to run")
    a.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments (after --)")

    a = action("list", _list, "list jobs, newest first")
    a.add_argument("--json", action="store_true")
    a.add_argument("--status", action="append", choices=["queued", "running", "succeeded", "failed",
                                                         "cancelled"])
    a.add_argument("--limit", type=int)

    a = action("show", _show, "show one job")
    a.add_argument("id", type=int)
    a.add_argument("--json", action="store_true")

    a = action("cancel", _cancel, "cancel a queued or running job")
    a.add_argument("id", type=int)
    a.add_argument("--grace", type=float, default=10.0, metavar="S",
                   help="seconds between SIGTERM and SIGKILL (default 10)")

    a = action("resume", _resume, "queue a failed or cancelled job's command again, into its output "
                                  "folder (a training run continues after its last completed epoch)")
    a.add_argument("id", type=int)
    a.add_argument("--no-worker", action="store_true", help="do not start a worker if none runs")

    a = action("logs", _logs, "print a job's output")
    a.add_argument("id", type=int)
    a.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    a.add_argument("--tail", type=int, metavar="BYTES", help="only the last BYTES of the log")

    a = action("wait", _wait, "wait for a job to finish (exit status 0 if it succeeded, 1 if not)")
    a.add_argument("id", type=int)
    a.add_argument("--timeout", type=float, metavar="S")

    a = action("checkpoints", _checkpoints, "checkpoints written by succeeded training jobs")
    a.add_argument("--json", action="store_true")

    a = action("worker", _worker, "run the job worker in the foreground")
    a.add_argument("--once", action="store_true", help="exit when the queue is empty")
    a.add_argument("--concurrency", type=int, metavar="N",
                   help="jobs at once (default: one per GPU, 1 on CPU; $SER_JOBS_CONCURRENCY)")
    a.add_argument("--idle-exit", type=float, metavar="S", help="exit after S idle seconds")

    a = action("selftest", _selftest, "diagnostic job: writes progress lines and selftest.json "
                                      "(no learning; checks the job machinery)")
    a.add_argument("--out", required=True, metavar="DIR")
    a.add_argument("--seconds", type=_nonneg, default=5.0)
    a.add_argument("--steps", type=_positive_int, default=10)
    a.add_argument("--exit-code", type=int, default=0, help="exit with this status at the end")
    a.add_argument("--spawn-child", action="store_true",
                   help="keep a subprocess in the job's process group while running")
    a.add_argument("--cuda-mb", type=int, default=0, help="hold this many MiB of GPU memory")
    a.add_argument("--ignore-sigterm", action="store_true")


def _nonneg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {text}")
    return v


# -- formatting ---------------------------------------------------------------------------------
def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def progress_text(progress: dict) -> str:
    """``fold 2/5 epoch 3/30 step 10/50 loss 0.53 val ua 0.61 41% eta 0:01:10`` from a job's
    progress (the trainer's progress.jsonl fields; its ``fold`` is 0-based)."""
    parts = []
    if isinstance(progress.get("fold"), int):
        folds = progress.get("folds")
        parts.append(f"fold {progress['fold'] + 1}" + (f"/{folds}" if folds else ""))
    for key in ("epoch", "step"):
        if progress.get(key) is not None:
            total = progress.get(key + "s")
            parts.append(f"{key} {progress[key]}" + (f"/{total}" if total is not None else ""))
    if isinstance(progress.get("loss"), (int, float)):
        parts.append(f"loss {progress['loss']:.4g}")
    val = progress.get("val")
    if isinstance(val, dict) and isinstance(val.get("ua"), (int, float)):
        parts.append(f"val ua {val['ua']:.3f}")
    if isinstance(progress.get("fraction"), (int, float)):
        parts.append(f"{100 * progress['fraction']:.0f}%")
    if isinstance(progress.get("eta_s"), (int, float)):
        parts.append(f"eta {_dur(progress['eta_s'])}")
    return " ".join(parts)


def _note(job) -> str:
    if job.status == "succeeded":
        return job.checkpoint or job.out_dir or ""
    if job.status in ("failed", "cancelled"):
        return job.exit_reason or ""
    if job.status == "running":
        return " ".join(filter(None, [progress_text(job.progress), f"[{job.device}]" if job.device else ""]))
    return ""


def _print_job(job) -> None:
    rows = [("id", job.id), ("kind", job.kind), ("status", job.status),
            ("command", "python -m ser_core " + " ".join(job.command)), ("cwd", job.cwd),
            ("gpus", job.gpus), ("device", job.device or "-"), ("created", _when(job.created_at)),
            ("started", _when(job.started_at)), ("finished", _when(job.finished_at)),
            ("elapsed", _dur(job.elapsed_s)), ("pid", job.pid or "-"), ("output", job.out_dir or "-"),
            ("log", job.log_path), ("progress", progress_text(job.progress) or "-")]
    if job.exit_reason:
        rows.append(("outcome", job.exit_reason))
    if job.checkpoint:
        rows.append(("checkpoint", job.checkpoint))
    for extra in job.checkpoints[1:]:
        rows.append(("", extra))
    for k, v in rows:
        print(f"{k:>10}  {v}")


# -- handlers -----------------------------------------------------------------------------------
def _submit(args) -> int:
    from ser_core.cli._job_args import job_from_argv
    from ser_core.jobs import submit

    job = submit(job_from_argv(args.kind, args.args), args.runs, gpus=args.gpus,
                 start_worker=not args.no_worker)
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
    else:
        print(job.id)
        print(f"queued job {job.id}: python -m ser_core {' '.join(job.command)}", file=sys.stderr)
    return 0


def _list(args) -> int:
    from ser_core.jobs import list_jobs

    jobs = list_jobs(args.runs, args.status, args.limit)
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2))
        return 0
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'ID':>4}  {'KIND':<9} {'STATUS':<10} {'CREATED':<19}  {'ELAPSED':>8}  NOTE")
    for j in jobs:
        print(f"{j.id:>4}  {j.kind:<9} {j.status:<10} {_when(j.created_at):<19}  "
              f"{_dur(j.elapsed_s):>8}  {_note(j)}")
    return 0


def _show(args) -> int:
    from ser_core.jobs import get_job

    job = get_job(args.id, args.runs)
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
    else:
        _print_job(job)
    return 0


def _cancel(args) -> int:
    from ser_core.jobs import cancel, get_job

    before = get_job(args.id, args.runs)
    job = cancel(args.id, args.runs, grace_s=args.grace)
    if before.finished:
        print(f"job {job.id} had already finished ({job.status})")
    else:
        print(f"job {job.id}: {job.status} ({job.exit_reason})")
    return 0


def _resume(args) -> int:
    from ser_core.jobs import resume

    job = resume(args.id, args.runs, start_worker=not args.no_worker)
    print(job.id)
    print(f"queued job {job.id} (resumes job {args.id}): python -m ser_core {' '.join(job.command)}",
          file=sys.stderr)
    return 0


def _logs(args) -> int:
    from ser_core.jobs import follow_log, read_log

    if args.follow:
        for chunk in follow_log(args.id, args.runs):
            sys.stdout.write(chunk)
            sys.stdout.flush()
    else:
        sys.stdout.write(read_log(args.id, args.runs, args.tail))
    return 0


def _wait(args) -> int:
    from ser_core.jobs import wait

    job = wait(args.id, args.runs, args.timeout)
    print(f"job {job.id}: {job.status}" + (f" ({job.exit_reason})" if job.exit_reason else ""))
    return 0 if job.status == "succeeded" else 1


def _checkpoints(args) -> int:
    from ser_core.jobs import list_finished_checkpoints

    found = list_finished_checkpoints(args.runs)
    if args.json:
        print(json.dumps([{k: v for k, v in c.items() if k != "meta"} for c in found], indent=2))
        return 0
    for c in found:
        print(f"{c['job_id']:>4}  {c['model'] or '?':<12} {c['checkpoint']}")
    if not found:
        print("no checkpoints from finished jobs")
    return 0


def _worker(args) -> int:
    from ser_core.jobs.worker import run_worker

    return run_worker(args.runs, args.concurrency, args.idle_exit, once=args.once)


def _selftest(args) -> int:
    from ser_core.jobs.selftest import run_selftest

    return run_selftest(args.out, args.seconds, args.steps, args.exit_code, args.spawn_child,
                        args.cuda_mb, args.ignore_sigterm)
