"""``python -m ser_core export onnx CHECKPOINT... [--out DIR] [--json]``

Exports checkpoints to ONNX: for each, ``DIR/NAME/model.onnx`` (the model: prepared features
-> logits, batch axis dynamic, time axis dynamic where the graph is right at other lengths) and
``DIR/NAME/model.json`` (labels, sample rate, segmenting, feature kind and config,
normalisation, temperature, the graph's inputs). NAME is the checkpoint folder's name (a
training run's ``checkpoint`` folder takes its run's name). A CHECKPOINT may be a folder of
checkpoints. A model that cannot be exported stops the command with one ``error:`` line and
status 2, after the others are written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="export checkpoints (onnx)",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=["onnx"], help="what to export to")
    p.add_argument("checkpoint", nargs="+", metavar="CHECKPOINT",
                   help="checkpoint directories, or folders of them")
    p.add_argument("--out", default="exports/onnx", metavar="DIR",
                   help="output folder (default exports/onnx)")
    p.add_argument("--json", action="store_true", help="print one JSON object per export")
    p.set_defaults(handler=run)


def _checkpoints(items: list[str]) -> list[tuple[Path, str]]:
    from ser_core.checkpoint import CONFIG, find_checkpoints
    from ser_core.errors import CheckpointError

    out = []
    for item in items:
        root = Path(item).expanduser()
        if (root / CONFIG).is_file():
            out.append((root, root.parent.name if root.name == "checkpoint" else root.name))
            continue
        found = find_checkpoints(root)
        if not found:
            raise CheckpointError(f"{root} is not a checkpoint and holds none (a folder with "
                                  f"model.safetensors and config.json).")
        out += [(d, str(d.relative_to(root))) for d in found]
    return out


def run(args) -> int:
    from ser_core.onnx_export import ExportError, export_checkpoint

    todo = _checkpoints(args.checkpoint)
    errors = []
    for directory, name in todo:
        try:
            done = export_checkpoint(directory, Path(args.out) / name)
        except ExportError as exc:
            errors.append(str(exc))
            print(f"error: {exc}", file=sys.stderr)
            continue
        m = done.meta
        if args.json:
            print(json.dumps({"checkpoint": str(directory), "onnx": str(done.path),
                              "dynamic_time": m["dynamic_time"], "inputs": m["inputs"]}))
        else:
            shapes = ", ".join(f"{i['name']} {tuple(i['shape'])}" for i in m["inputs"])
            print(f"{directory} -> {done.path}  ({shapes}; time axis "
                  f"{'dynamic' if m['dynamic_time'] else 'fixed'})")
    if errors:
        raise ExportError(f"{len(errors)} of {len(todo)} checkpoints could not be exported; "
                          f"the first: {errors[0]}")
    return 0
