"""What a job runs, as a dataclass, checked in one place when it is submitted.

A job is ``python -m ser_core KIND ARGS...``: the very command a user could type. Its
parameters are a :class:`JobParams` (what to train: a model or a checkpoint; on what: corpora,
their folders, a label set; how: protocol, folds, epochs, device, ...), and :meth:`JobParams.argv`
writes them as that command's arguments. The Train page fills a ``JobParams`` from its widgets;
``python -m ser_core jobs submit KIND -- ARGS`` parses ``ARGS`` with the command's own parser
and turns them into one (``job_from_argv`` in the CLI package). Both then go through
:func:`validate`, the cheap checks on what the parameters name:

* ``model`` names a registered model; ``protocol`` a known protocol; the model's recipe takes
  ``epochs``; ``labels`` names a label set;
* ``corpora`` are known corpora (aliases allowed), one folder per corpus, each folder present;
  ``checkpoint`` is a checkpoint folder;
* ``device cuda`` on a machine without a GPU is refused, and so are more GPUs than present;
* ``out`` is not a file and is not the output folder of another queued or running job.
  Without ``out`` the job writes to ``runs/jobs/<id>/out``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ser_core.jobs.store import JobError

#: Job kinds and the subcommand each runs (``selftest`` is the jobs diagnostic).
KINDS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "cv": ("cv",),
    "finetune": ("finetune",),
    "evaluate": ("evaluate",),
    "selftest": ("jobs", "selftest"),
}
#: Kinds whose success produces checkpoints worth listing.
TRAINING_KINDS = ("train", "cv", "finetune")

PROGRESS_FILE = "progress.jsonl"


@dataclass(frozen=True)
class JobParams:
    """One job's parameters (see the module docstring). ``options``: any further options of
    the command, as it takes them (e.g. ``("--lr", "0.001")``)."""

    kind: str
    model: str | None = None
    checkpoint: str | None = None
    corpora: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()
    labels: str | None = None
    protocol: str | None = None
    folds: int | None = None
    test_corpora: tuple[str, ...] = ()
    epochs: int | None = None
    max_speakers: int | None = None
    device: str | None = None
    unfreeze_last: int | None = None
    new_head: bool = False
    out: str | None = None
    options: tuple[str, ...] = field(default_factory=tuple)

    def argv(self) -> list[str]:
        """The arguments after ``python -m ser_core KIND``."""
        args: list[str] = []
        for name, flag in OPTION_FLAGS:
            value = getattr(self, name)
            if value is None or value == () or value is False:
                continue
            if value is True:
                args.append(flag)
            else:
                args += [flag, ",".join(value) if isinstance(value, tuple) else str(value)]
        return [*args, *self.options]


#: The typed fields and the command-line options they are written as.
OPTION_FLAGS = (("model", "--model"), ("checkpoint", "--checkpoint"), ("corpora", "--corpus"),
                ("roots", "--root"), ("labels", "--labels"), ("protocol", "--protocol"),
                ("test_corpora", "--test-corpora"), ("folds", "--folds"), ("epochs", "--epochs"),
                ("max_speakers", "--max-speakers"), ("device", "--device"),
                ("unfreeze_last", "--unfreeze-last"), ("new_head", "--new-head"),
                ("out", "--out"))


@dataclass(frozen=True)
class Prepared:
    """A validated job: its argv, and where it writes (``{id}`` = the job id, when the
    output folder was defaulted to ``runs/jobs/<id>/out``)."""

    kind: str
    argv: list[str]
    out_dir: str | None
    defaulted_out: bool

    def command(self, job_id: int) -> list[str]:
        extra = ["--out", self.out(job_id)[0]] if self.defaulted_out else []
        return [*KINDS[self.kind], *self.argv, *extra]

    def out(self, job_id: int) -> tuple[str | None, str | None]:
        if self.out_dir is None:
            return None, None
        out = self.out_dir.replace("{id}", str(job_id)) if self.defaulted_out else self.out_dir
        return out, str(Path(out) / PROGRESS_FILE)


def validate(job: JobParams, runs_dir: Path, cwd: Path, busy_outs: dict[str, int] | None = None,
             gpus: int = 1) -> Prepared:
    """Check ``job`` (module docstring); raise a :class:`~ser_core.errors.SerError` with the
    reason, else return where it writes."""
    if job.kind not in KINDS:
        raise JobError(f"Unknown job kind {job.kind!r}; kinds are {', '.join(KINDS)}.")
    _check_slots(job, gpus)
    _check_names(job)
    _check_corpora(job.corpora, job.roots, cwd)
    if job.checkpoint:
        path = (cwd / job.checkpoint).expanduser()
        if not ((path / "config.json").is_file() and (path / "model.safetensors").is_file()):
            raise JobError(f"{job.checkpoint} is not a checkpoint folder (it needs config.json "
                           "and model.safetensors).")
    if job.out is None:
        return Prepared(job.kind, job.argv(), str(runs_dir / "jobs" / "{id}" / "out"), True)
    out_dir = str((cwd / job.out).expanduser().resolve())
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise JobError(f"The output folder {out_dir} is a file.")
    other = (busy_outs or {}).get(out_dir)
    if other is not None:
        raise JobError(f"Job {other} (queued or running) already writes to {out_dir}; "
                       "choose another --out.")
    return Prepared(job.kind, job.argv(), out_dir, False)


def _check_slots(job: JobParams, gpus: int) -> None:
    from ser_core.jobs.procs import gpu_ids

    n_gpus = len(gpu_ids())
    if gpus < 1:
        raise JobError(f"A job needs at least one slot (gpus={gpus}).")
    if gpus > max(n_gpus, 1):
        raise JobError(f"The job asks for {gpus} GPUs but this machine has {n_gpus}.")
    if gpus > 1 and job.kind not in TRAINING_KINDS:
        raise JobError(f"Only training jobs can use several GPUs (torchrun); {job.kind} cannot.")
    if (job.device or "").startswith("cuda") and n_gpus == 0:
        raise JobError("The job asks for --device cuda but this machine has no GPU; use --device "
                       "cpu or leave --device out.")


def _check_names(job: JobParams) -> None:
    """Model, protocol, recipe and label set name things that exist (imports only what a
    check needs: a selftest job stays quick to submit)."""
    if job.model:
        from ser_core.models import model_class
        from ser_core.training.recipes import recipe_for

        model_class(job.model)  # ConfigError naming the known models
        recipe_for(job.model, **({"epochs": job.epochs} if job.epochs else {}))
    if job.protocol:
        from ser_core.data.splits import canonical_protocol

        canonical_protocol(job.protocol)
    if job.labels and not job.labels.lower().startswith("native"):
        from ser_core.data.labels import get_label_set

        get_label_set(job.labels)


def _check_corpora(names: tuple[str, ...], roots: tuple[str, ...], cwd: Path) -> None:
    """Corpus names known (aliases allowed), one root per corpus, each root present (a folder,
    or a CSV file for the generic corpus)."""
    if not names and not roots:
        return
    from ser_core.data import canonical_name, parse_corpus_args

    if names and roots:
        pairs = [(n, cwd / p) for n, p in parse_corpus_args(list(names), list(roots))]
    else:
        pairs = [(canonical_name(n), None) for n in names] + [(None, cwd / r) for r in roots]
    for name, path in pairs:
        if path is None:
            continue
        path = path.expanduser()
        if path.is_dir() or (name == "generic" and path.suffix.lower() == ".csv" and path.is_file()):
            continue
        raise JobError(f"The {name or 'corpus'} folder {path} does not exist (or is not a folder).")


#: The variables that size a CPU job's thread pools (torch's OpenMP and MKL); the worker sets
#: them when jobs share the CPU (``worker.cpu_thread_env``).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def job_env() -> dict[str, str]:
    """Environment every job gets on top of the worker's: unbuffered output (logs stream)
    and ``ser_core`` importable whatever the job's working folder."""
    pkg_parent = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    parts = [pkg_parent] + [p for p in path.split(os.pathsep) if p and p != pkg_parent]
    return {"PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(parts)}
