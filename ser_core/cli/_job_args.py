"""``jobs submit KIND -- ARGS``: the command's arguments, parsed by the command's own parser,
as the jobs layer's :class:`~ser_core.jobs.params.JobParams` (not a subcommand)."""

from __future__ import annotations

import contextlib
import io

from ser_core.cli import build_parser, render_options, subcommand_parser
from ser_core.jobs.params import KINDS, OPTION_FLAGS, JobParams
from ser_core.jobs.store import JobError

_TUPLES = {"corpora": "corpus", "roots": "root", "test_corpora": "test_corpora"}


def available_kinds() -> list[str]:
    return [k for k, path in KINDS.items() if subcommand_parser(path) is not None]


def job_from_argv(kind: str, argv: list[str]) -> JobParams:
    """Parse ``argv`` as ``python -m ser_core KIND argv`` would, run the command's own checks
    (its ``validate_args``), and return the job's parameters; a :class:`JobError` says what is
    wrong."""
    argv = [str(a) for a in argv]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if kind not in KINDS:
        raise JobError(f"Unknown job kind {kind!r}; kinds are {', '.join(KINDS)}.")
    root = build_parser()
    sub = subcommand_parser(KINDS[kind], root)
    if sub is None:
        raise JobError(f"This installation has no '{' '.join(KINDS[kind])}' command, so {kind} "
                       f"jobs cannot run; available kinds: {', '.join(available_kinds())}.")
    # without --out the jobs layer picks runs/jobs/<id>/out: parse with a stand-in
    defaulted = not any(a == "--out" or a.startswith("--out=") for a in argv)
    args = _parse(root, [*KINDS[kind], *argv, *(["--out", "-"] if defaulted else [])], kind)
    if defaulted:
        args.out = None
    if getattr(args, "validate", None) is not None:
        args.validate(args)  # the command's own checks (set by its register())
    typed = {name: getattr(args, _TUPLES.get(name, name), None) for name, _ in OPTION_FLAGS}
    typed = {k: v for k, v in typed.items() if v is not None}
    for name in _TUPLES:
        if name in typed:
            typed[name] = tuple(p.strip() for p in str(typed[name]).split(",") if p.strip())
    typed_dests = {_TUPLES.get(name, name) for name, _ in OPTION_FLAGS}
    return JobParams(kind=kind, **typed, options=tuple(render_options(sub, args, typed_dests)))


def _parse(parser: argparse.ArgumentParser, argv: list[str], kind: str) -> argparse.Namespace:
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            return parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise JobError(f"'{' '.join(argv[len(KINDS[kind]):])}' prints help; it is not a "
                           f"{kind} job.") from None
        lines = [l for l in err.getvalue().strip().splitlines() if l.strip()]
        msg = lines[-1] if lines else "invalid arguments"
        if ": error: " in msg:
            msg = msg.split(": error: ", 1)[1]
        raise JobError(f"Bad {kind} parameters: {msg}.") from None
