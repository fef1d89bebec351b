"""Submit-time validation and the ``jobs`` command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from jobs_helpers import REPO, submit

from ser_core import jobs
from ser_core.errors import SerError
from ser_core.jobs.store import Store


def _refused(runs, kind, args, match, **kw):
    with pytest.raises(SerError, match=match):
        submit(kind, args, runs, start_worker=False, **kw)


@pytest.mark.parametrize("kind,args,match", [
    ("selftest", ["--seconds", "abc"], r"Bad selftest parameters: argument --seconds: not a number: 'abc'"),
    ("selftest", ["--seconds", "-1"], r"must be >= 0"),
    ("selftest", ["--bogus"], r"unrecognized arguments: --bogus"),
    ("selftest", ["--help"], r"prints help"),
    ("dance", [], r"Unknown job kind 'dance'"),
])
def test_bad_parameters_are_refused_at_submit_time(runs, kind, args, match):
    _refused(runs, kind, args, match)
    assert Store(runs).list() == []


def test_output_folder_conflicts_are_refused(runs, tmp_path):
    (tmp_path / "afile").write_text("x")
    _refused(runs, "selftest", ["--out", str(tmp_path / "afile")], r"is a file")
    first = submit("selftest", ["--out", "shared-out"], runs, start_worker=False)
    assert first.out_dir == str((tmp_path / "shared-out").resolve())
    _refused(runs, "selftest", ["--out", str(tmp_path / "shared-out")], rf"Job {first.id} .* already writes")
    assert len(Store(runs).list()) == 1


def test_gpu_requests_beyond_the_machine_are_refused(runs, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # this machine: no GPU
    _refused(runs, "selftest", [], r"asks for 2 GPUs but this machine has 0", gpus=2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    _refused(runs, "selftest", [], r"Only training jobs can use several GPUs", gpus=2)


def test_kind_without_its_command_is_refused_with_the_available_kinds(runs, monkeypatch):
    from ser_core.jobs import params

    monkeypatch.setitem(params.KINDS, "ghost", ("no-such-command",))
    _refused(runs, "ghost", [], r"no 'no-such-command' command.*available kinds: .*selftest")


def test_relative_paths_resolve_against_the_submitting_folder(runs, tmp_path):
    job = submit("selftest", ["--out", "rel/out", "--seconds", "0", "--steps", "1"], runs,
                      start_worker=False)
    assert job.cwd == str(tmp_path.resolve())
    assert job.out_dir == str(tmp_path.resolve() / "rel" / "out")
    assert job.progress_path == str(tmp_path.resolve() / "rel" / "out" / "progress.jsonl")
    assert job.command == ["jobs", "selftest", "--out", "rel/out", "--seconds", "0.0", "--steps", "1"]


def _cli(*args, runs, timeout=60):
    return subprocess.run([sys.executable, "-m", "ser_core", "jobs", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout,
                          env={**__import__("os").environ, "SER_RUNS_DIR": str(runs)})


def test_cli_refuses_bad_parameters_with_one_error_line(runs):
    t0 = time.monotonic()
    r = _cli("submit", "selftest", "--", "--seconds", "soon", runs=runs)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: Bad selftest parameters: argument --seconds: not a number: 'soon'."]
    assert time.monotonic() - t0 < 20
    assert _cli("list", "--json", runs=runs).stdout.strip() == "[]"
    r = _cli("show", "42", runs=runs)
    assert r.returncode == 2 and r.stderr.startswith("error: There is no job 42")


def shown_out(runs, job_id: int) -> str:
    return json.loads(_cli("show", str(job_id), "--json", runs=runs).stdout)["out_dir"]


@pytest.mark.slow
def test_cli_round_trip(runs):
    r = _cli("submit", "selftest", "--", "--seconds", "0.5", "--steps", "2", runs=runs)
    assert r.returncode == 0, r.stderr
    job_id = int(r.stdout.strip())
    r = _cli("wait", str(job_id), "--timeout", "40", runs=runs)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
    listed = json.loads(_cli("list", "--json", runs=runs).stdout)
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "succeeded")]
    shown = json.loads(_cli("show", str(job_id), "--json", runs=runs).stdout)
    assert shown["progress"]["step"] == 2 and shown["exit_code"] == 0
    text = _cli("show", str(job_id), runs=runs).stdout
    assert "status  succeeded" in text and "step 2/2" in text
    assert "exited normally" in _cli("logs", str(job_id), runs=runs).stdout
    assert "exited normally" in _cli("logs", str(job_id), "--follow", runs=runs).stdout
    table = _cli("list", runs=runs).stdout
    assert "selftest  succeeded" in table
    assert "already finished" in _cli("cancel", str(job_id), runs=runs).stdout
    # the submit-style without "--" works too (the worker may still be there: queued or running)
    r = _cli("submit", "selftest", "--seconds", "60", runs=runs)
    assert r.returncode == 0, r.stderr
    r = _cli("cancel", r.stdout.strip(), runs=runs)
    # queued or already running when the cancel arrives: either way it says it was cancelled
    assert re.search(r": cancelled \(cancelled (by user|before it started)", r.stdout), r.stdout
    cancelled = int(r.stdout.split(":")[0].split()[-1])
    r = _cli("resume", str(job_id), runs=runs)
    assert r.returncode == 2 and r.stderr.strip() == (f"error: Job {job_id} succeeded; there is "
                                                      "nothing left to resume.")
    r = _cli("resume", str(cancelled), "--no-worker", runs=runs)
    assert r.returncode == 0 and f"(resumes job {cancelled})" in r.stderr, r.stderr
    again = json.loads(_cli("show", r.stdout.strip(), "--json", runs=runs).stdout)
    # queued, or running where the worker of the jobs above is still there
    assert again["status"] in ("queued", "running") and again["out_dir"] == shown_out(runs, cancelled)
    _cli("cancel", str(again["id"]), runs=runs)


def test_typed_job_is_validated_like_a_command_line_and_runs_that_command(runs, tmp_path):
    """The Train page's path: a JobParams straight to submit. Its command parses back, with the
    CLI's own parser, into the same parameters (so the worker runs what a user could type)."""
    from ser_core.cli._job_args import job_from_argv
    from ser_core.jobs import JobParams

    root = tmp_path / "emodb"
    root.mkdir()
    job = JobParams("train", model="glam", corpora=("emodb",), roots=(str(root),),
                    labels="ekman7", protocol="speaker-kfold", folds=3, epochs=2, device="cpu",
                    options=("--lr", "0.01"))
    assert job_from_argv("train", job.argv()) == job
    queued = jobs.submit(job, runs, start_worker=False)
    assert queued.command[:len(job.argv()) + 1] == ["train", *job.argv()]
    for bad, match in ((dict(model="nope"), "Unknown model 'nope'"),
                       (dict(corpora=("emodbx",)), "Unknown corpus 'emodbx'"),
                       (dict(protocol="bogus"), "Unknown protocol 'bogus'"),
                       (dict(labels="bogus"), "Unknown label set 'bogus'")):
        with pytest.raises(SerError, match=match):
            jobs.submit(__import__("dataclasses").replace(job, **bad), runs, start_worker=False)
    assert len(Store(runs).list()) == 1
