"""What a job runs, checked when it is submitted.

A job is ``python -m ser_core KIND ARGS...``: the very command a user could type. At submit
time the arguments are parsed by the real CLI parser (:func:`ser_core.cli.build_parser`), so a
typo, a missing option or a bad value is refused there and then, with argparse's message.
Then cheap checks on what the parsed arguments name:

* ``model`` names a registered model; ``root`` folders exist; ``checkpoint`` folders are
  checkpoints; ``corpus`` names a known corpus when the data layer lists corpora;
* ``device cuda`` on a machine without a GPU is refused;
* ``out`` is not a file and is not the output folder of another queued or running job.
  When the kind has ``--out`` and none was given, the job writes to ``runs/jobs/<id>/out``.

A command module may add its own checks by defining ``validate_args(args)`` that raises
:class:`~ser_core.errors.SerError`; it is called with the parsed namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from dataclasses import dataclass
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
class Prepared:
    """A validated job: the user's argv, and where it writes (``{id}`` = the job id, when the
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


def _subcommand_parser(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    for name in path:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or name not in subs[0].choices:
            return None
        parser = subs[0].choices[name]
    return parser


def _has_option(parser: argparse.ArgumentParser, option: str) -> bool:
    return any(option in a.option_strings for a in parser._actions)


def _parse(parser: argparse.ArgumentParser, argv: list[str], kind: str) -> argparse.Namespace:
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            return parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise JobError(f"'{' '.join(argv)}' prints help; it is not a {kind} job.") from None
        lines = [l for l in err.getvalue().strip().splitlines() if l.strip()]
        msg = lines[-1] if lines else "invalid arguments"
        if ": error: " in msg:
            msg = msg.split(": error: ", 1)[1]
        raise JobError(f"Bad {kind} parameters: {msg}.") from None


def prepare(kind: str, argv: list[str], runs_dir: Path, cwd: Path,
            busy_outs: dict[str, int] | None = None, gpus: int = 1) -> Prepared:
    """Validate ``kind`` and ``argv``; raise :class:`JobError` (a SerError) with the reason."""
    from ser_core.cli import build_parser

    argv = [str(a) for a in argv]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if kind not in KINDS:
        raise JobError(f"Unknown job kind {kind!r}; kinds are {', '.join(KINDS)}.")
    parser = build_parser()
    sub = _subcommand_parser(parser, KINDS[kind])
    if sub is None:
        raise JobError(f"This installation has no '{' '.join(KINDS[kind])}' command, so {kind} "
                       f"jobs cannot run; available kinds: {', '.join(available_kinds(parser))}.")
    has_out = _has_option(sub, "--out")
    defaulted = has_out and not any(a == "--out" or a.startswith("--out=") for a in argv)
    template = str(runs_dir / "jobs" / "{id}" / "out")
    extra = ["--out", template.replace("{id}", "0")] if defaulted else []
    args = _parse(parser, [*KINDS[kind], *argv, *extra], kind)
    out_dir = None
    if defaulted:
        out_dir = template
    elif has_out and getattr(args, "out", None):
        out_dir = str((cwd / str(args.out)).expanduser().resolve())
    _check_args(kind, args, cwd, None if defaulted else out_dir, busy_outs or {}, gpus)
    return Prepared(kind, argv, out_dir, defaulted)


def available_kinds(parser: argparse.ArgumentParser | None = None) -> list[str]:
    if parser is None:
        from ser_core.cli import build_parser

        parser = build_parser()
    return [k for k, path in KINDS.items() if _subcommand_parser(parser, path) is not None]


def _split(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def _check_args(kind: str, args: argparse.Namespace, cwd: Path, out_dir: str | None,
                busy_outs: dict[str, int], gpus: int) -> None:
    from ser_core.jobs.procs import gpu_ids

    n_gpus = len(gpu_ids())
    if gpus < 1:
        raise JobError(f"A job needs at least one slot (gpus={gpus}).")
    if gpus > max(n_gpus, 1):
        raise JobError(f"The job asks for {gpus} GPUs but this machine has {n_gpus}.")
    if gpus > 1 and kind not in TRAINING_KINDS:
        raise JobError(f"Only training jobs can use several GPUs (torchrun); {kind} cannot.")
    models = _split(getattr(args, "model", None))
    if models:
        from ser_core.models import model_class

        for m in models:
            model_class(m)  # ConfigError naming the known models
    _check_corpora(getattr(args, "corpus", None), getattr(args, "root", None), cwd)
    labels = getattr(args, "labels", None)
    if isinstance(labels, str) and labels:
        get_label_set = getattr(_data_layer(), "get_label_set", None)
        if get_label_set is not None and not labels.lower().startswith("native"):
            get_label_set(labels)
    for ckpt in _split(getattr(args, "checkpoint", None)):
        path = (cwd / ckpt).expanduser()
        if not ((path / "config.json").is_file() and (path / "model.safetensors").is_file()):
            raise JobError(f"{ckpt} is not a checkpoint folder (it needs config.json and "
                           "model.safetensors).")
    device = getattr(args, "device", None)
    if isinstance(device, str) and device.startswith("cuda") and n_gpus == 0:
        raise JobError("The job asks for --device cuda but this machine has no GPU; use --device cpu "
                       "or leave --device out.")
    if out_dir is not None:
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise JobError(f"The output folder {out_dir} is a file.")
        other = busy_outs.get(str(Path(out_dir)))
        if other is not None:
            raise JobError(f"Job {other} (queued or running) already writes to {out_dir}; "
                           "choose another --out.")
    handler = getattr(args, "handler", None)
    module = sys.modules.get(getattr(handler, "__module__", "") or "")
    validate = getattr(module, "validate_args", None)
    if callable(validate):
        validate(args)


def _data_layer():
    try:
        return importlib.import_module("ser_core.data")
    except ImportError:
        return None


def _check_corpora(corpus, root, cwd: Path) -> None:
    """Corpus names known (aliases allowed), one root per corpus, each root present (a folder,
    or a CSV file for the generic corpus)."""
    names, roots = _split(corpus), _split(root)
    data = _data_layer()
    parse = getattr(data, "parse_corpus_args", None)
    if names and roots and parse is not None:
        pairs = [(n, cwd / p) for n, p in parse(",".join(names), ",".join(roots))]
    else:
        canonical = getattr(data, "canonical_name", None)
        for n in names if canonical else []:
            canonical(n)  # DatasetError naming the known corpora
        pairs = [(None, cwd / r) for r in roots]
    for name, path in pairs:
        if path is None:
            continue
        path = path.expanduser()
        if path.is_dir() or (name == "generic" and path.suffix.lower() == ".csv" and path.is_file()):
            continue
        raise JobError(f"The {name or 'corpus'} folder {path} does not exist (or is not a folder).")


def job_env() -> dict[str, str]:
    """Environment every job gets on top of the worker's: unbuffered output (logs stream)
    and ``ser_core`` importable whatever the job's working folder."""
    pkg_parent = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    parts = [pkg_parent] + [p for p in path.split(os.pathsep) if p and p != pkg_parent]
    return {"PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(parts)}
