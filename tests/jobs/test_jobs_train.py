"""Jobs running the real ``train`` command: refusals at submit time, a tiny real training run
whose checkpoint is listed as soon as it finishes, and cancelling a training run."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from jobs_helpers import submit, wait_for

from ser_core import jobs
from ser_core.errors import SerError
from ser_core.cli._job_args import available_kinds
from ser_core.jobs.procs import group_members, is_alive

pytestmark = pytest.mark.skipif("train" not in available_kinds(), reason="no train command")

#: The smallest real run: one fold of a 2-fold split, a few utterances, one epoch, CPU.
TINY = ["--model", "cnn_bilstm", "--corpus", "emodb", "--folds", "2", "--fold-index", "0",
        "--max-speakers", "4", "--max-utterances", "16", "--epochs", "1", "--device", "cpu", "--quiet"]


@pytest.mark.parametrize("change,match", [
    ({"--model": "nope"}, r"Unknown model 'nope'"),
    ({"--corpus": "emodbx"}, r"Unknown corpus 'emodbx'"),
    ({"--root": "does/not/exist"}, r"does not exist"),
    ({"--epochs": "x"}, r"Bad train parameters: argument --epochs: invalid int value: 'x'"),
    ({"--protocol": "bogus"}, r"Unknown protocol 'bogus'"),
    ({"--labels": "bogus"}, r"Unknown label set 'bogus'"),
    ({"--device": "cuda"}, r"no GPU"),
    ({"--corpus": None}, r"required: --corpus"),
])
def test_bad_train_parameters_are_refused_at_submit_time(runs, tmp_path, monkeypatch, change, match):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a CPU-only machine
    root = tmp_path / "emodb"
    root.mkdir()
    opts = {"--model": "glam", "--corpus": "emodb", "--root": str(root), **change}
    args = [x for k, v in opts.items() if v is not None for x in (k, v)]
    with pytest.raises(SerError, match=match):
        submit("train", args, runs, start_worker=False)
    assert jobs.list_jobs(runs, start_worker=False) == []


@pytest.mark.slow
@pytest.mark.corpus
def test_tiny_real_train_job_gives_a_listed_checkpoint(runs, emodb_root):
    job = submit("train", [*TINY, "--root", str(emodb_root)], runs)
    assert job.out_dir == str(runs.resolve() / "jobs" / str(job.id) / "out")
    done = jobs.wait(job.id, timeout_s=900)
    assert done.status == "succeeded", (done.exit_reason, jobs.read_log(job.id)[-2000:])
    assert done.checkpoint == str(Path(done.out_dir) / "checkpoint")
    events = [r["event"] for r in jobs.progress_history(job.id)]
    assert events[0] == "run_start" and events[-1] == "run_end" and "epoch_end" in events
    assert done.progress["event"] == "run_end" and done.progress["fraction"] == 1
    [listed] = jobs.list_finished_checkpoints(runs)
    assert listed["job_id"] == job.id and listed["best"]
    assert listed["checkpoint"] == done.checkpoint and listed["model"] == "cnn_bilstm"
    assert set(listed["metrics"]["mean"]) >= {"wa", "ua", "weighted_f1", "macro_f1"}
    assert (Path(done.out_dir) / "results.json").is_file()


@pytest.mark.slow
@pytest.mark.corpus
def test_cancel_a_running_train_job(runs, emodb_root):
    job = submit("train", [*TINY, "--epochs", "1000", "--patience", "0", "--root", str(emodb_root)],
                      runs)  # long enough to still run when cancelled
    job = wait_for(lambda: (j := jobs.get_job(job.id)).progress.get("event") in ("fold_start", "step",
                                                                               "epoch_end") and j,
                   300, poll_s=0.5, what="training to start")
    assert is_alive(job.child_pid)
    cancelled = jobs.cancel(job.id, grace_s=10)
    assert cancelled.status == "cancelled", cancelled.exit_reason
    assert group_members(job.pgid) == [] and not is_alive(job.child_pid)
    # 130: the CLI caught the interrupt. -SIGINT is seen about 1 run in 5 here, *after* the
    # CLI printed "interrupted" and closed its run folder (checked below); where that SIGINT
    # comes from inside the job's process group is not yet known (a lone `python -m ser_core
    # train` given one or two SIGTERMs exits 130 every time)
    assert cancelled.exit_code in (-signal.SIGTERM, -signal.SIGKILL, -signal.SIGINT, 1, 130,
                                   143, None), jobs.read_log(job.id, tail_bytes=3000)
    run_json = Path(cancelled.out_dir) / "run.json" if cancelled.out_dir else None
    if run_json is not None and run_json.is_file():
        assert json.loads(run_json.read_text())["status"] == "cancelled"
    assert jobs.list_finished_checkpoints(runs) == []


@pytest.mark.slow
@pytest.mark.corpus
def test_a_killed_train_job_resumes_after_its_last_completed_epoch(runs, emodb_root):
    loud = [a for a in TINY if a != "--quiet"]  # the log says where the run resumed
    job = submit("train", [*loud, "--epochs", "4", "--patience", "0", "--root", str(emodb_root)], runs)
    job = wait_for(lambda: (j := jobs.get_job(job.id)).progress.get("event") == "epoch_end" and j,
                   300, poll_s=0.1, what="the first epoch's end")
    os.kill(job.child_pid, signal.SIGKILL)  # what the OOM killer or a power cut does
    failed = jobs.wait(job.id, timeout_s=30)
    assert failed.status == "failed", failed.exit_reason
    again = jobs.resume(job.id, runs)
    done = jobs.wait(again.id, timeout_s=300)
    assert done.status == "succeeded", jobs.read_log(again.id, tail_bytes=3000)
    assert done.out_dir == failed.out_dir and done.checkpoint
    log = jobs.read_log(again.id)
    resumed = re.search(r"resumed after epoch (\d+)", log)
    assert resumed and int(resumed.group(1)) >= 1, log[-3000:]
    assert jobs.list_finished_checkpoints(runs)[0]["job_id"] == again.id


@pytest.mark.skipif("evaluate" not in available_kinds(), reason="no evaluate command")
def test_evaluate_needs_a_real_checkpoint_folder(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SerError, match=r"is not a checkpoint"):
        submit("evaluate", ["--checkpoint", str(tmp_path / "empty"), "--corpus", "emodb",
                                 "--root", str(tmp_path)], runs, start_worker=False)


@pytest.mark.slow
@pytest.mark.corpus
def test_several_slot_training_job_runs_under_torchrun(runs, emodb_root, monkeypatch):
    """A job with gpus=2 takes two slots and runs `torchrun --standalone --nproc-per-node=2`.
    CUDA_VISIBLE_DEVICES pretends two GPUs so that this runs anywhere: with --device cpu the
    two ranks train with DDP over gloo, which is the CPU test of the DDP path."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    job = submit("train", [*TINY, "--root", str(emodb_root)], runs, gpus=2)
    done = jobs.wait(job.id, timeout_s=900)
    assert done.status == "succeeded", (done.exit_reason, jobs.read_log(job.id)[-2000:])
    assert done.device == "cuda:0,1" and done.gpus == 2
    assert "torch.distributed.run --standalone --nproc-per-node=2" in jobs.read_log(job.id)
    [start] = jobs.progress_history(job.id, events=["run_start"])
    assert start["world_size"] == 2
    assert done.checkpoint == str(Path(done.out_dir) / "checkpoint")


def test_a_second_sigterm_does_not_interrupt_the_cancel_being_recorded():
    """`jobs cancel` can deliver SIGTERM twice (supervisor + cancel both signal the group):
    the first becomes KeyboardInterrupt, the second must not break the run's clean-up."""
    import os

    from ser_core.training.session import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    try:
        sigterm_as_interrupt()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)  # the handler runs between bytecodes
        os.kill(os.getpid(), signal.SIGTERM)  # ignored now: no exception, no exit
        time.sleep(0.2)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)
