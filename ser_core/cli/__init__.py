"""Command line: ``python -m ser_core SUBCOMMAND ...``.

Each module in this package defines ``register(subparsers)`` that adds one subcommand and
sets ``handler`` on it (a function ``(args) -> int``). Modules are discovered, so adding a
subcommand is adding a file. Heavy imports (torch, librosa) happen inside handlers so that
``--help`` stays fast.

Errors a user can cause (:class:`~ser_core.errors.SerError`) print one line beginning
``error:`` on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ser_core",
        description="Speech emotion recognition lab: features, corpora, models, training, jobs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


#: Namespace entries that are the parser's bookkeeping, not options.
_INTERNAL = {"handler", "validate", "command", "jobs_action", "runs"}


def subcommand_parser(path: tuple[str, ...], parser: argparse.ArgumentParser | None = None):
    """The parser of ``python -m ser_core PATH...``, or None when this installation lacks it."""
    parser = parser or build_parser()
    for name in path:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or name not in subs[0].choices:
            return None
        parser = subs[0].choices[name]
    return parser


def render_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   skip: set[str] = frozenset()) -> list[str]:
    """The options of ``args`` (parsed by ``parser``) that differ from their defaults, written
    as the command takes them (``skip``: destinations to leave out)."""
    out: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in skip | _INTERNAL or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value == action.default or value is None:
            continue
        flag = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
        if isinstance(action, argparse._StoreConstAction):  # --flag, --no-flag
            if value == action.const:
                out.append(flag)
        elif isinstance(value, list):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


def main(argv: list[str] | None = None) -> int:
    from ser_core.errors import SerError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except SerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
