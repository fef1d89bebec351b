"""``python -m ser_core export {onnx,int8} CHECKPOINT... [--out DIR] [--data ROOT] [--json]``

Exports checkpoints to ONNX: for each, ``DIR/NAME/model.onnx`` (the model: prepared features
-> logits, batch axis dynamic, time axis dynamic where the graph is right at other lengths) and
``DIR/NAME/model.json`` (labels, sample rate, segmenting, feature kind and config,
normalisation, temperature, the graph's inputs). NAME is the checkpoint folder's name (a
training run's ``checkpoint`` folder takes its run's name). A CHECKPOINT may be a folder of
checkpoints. A model that cannot be exported stops the command with one ``error:`` line and
status 2, after the others are written.

``export int8`` measures, for each checkpoint, the activation ranges of its int8 graph on
``--calib`` clips of every corpus under ``--data`` and stores them in the checkpoint folder as
``int8_calibration.json``, with how often the int8 graph gives the float32 graph's top class
on ``--clips`` other clips per corpus and both graphs' warm time on a 3 s clip. The
``onnxruntime-int8`` backend (``predict --backend``, the app) builds its graphs from these
ranges; a model whose int8 graph is not clearly faster or agrees too rarely is marked so and
runs its float32 graph there (ser_core/onnx_int8.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="export checkpoints (onnx) or calibrate int8 graphs (int8)",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=["onnx", "int8"],
                   help="onnx: float32 graphs into --out; int8: calibrate int8 graphs (needs --data)")
    p.add_argument("checkpoint", nargs="+", metavar="CHECKPOINT",
                   help="checkpoint directories, or folders of them")
    p.add_argument("--out", default="exports/onnx", metavar="DIR",
                   help="output folder (default exports/onnx)")
    p.add_argument("--json", action="store_true", help="print one JSON object per export")
    p.add_argument("--data", default=None, metavar="ROOT",
                   help="int8: folder of corpora (default $SER_DATA_ROOT or ../shared/data)")
    p.add_argument("--calib", type=int, default=16, metavar="N",
                   help="int8: calibration clips per corpus (default 16)")
    p.add_argument("--clips", type=int, default=40, metavar="N",
                   help="int8: other clips per corpus to compare with float32 on (default 40)")
    p.add_argument("--threads", type=int, default=1, help="int8: threads for the timing (default 1)")
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


def _clip_sets(root: Path, calib: int, clips: int) -> tuple[list[Path], list[Path], dict]:
    """``calib`` and ``clips`` different clips of every corpus folder under ``root``, each
    picked with a fixed seed."""
    import numpy as np

    from ser_core.data.records import iter_audio_files
    from ser_core.errors import ConfigError

    corpora = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    cal, test, counts = [], [], {}
    for d in corpora:
        files = iter_audio_files(d)
        if not files:
            continue
        order = np.random.default_rng(0).permutation(len(files))
        cal += [files[i] for i in order[:calib]]
        test += [files[i] for i in order[calib:calib + clips]]
        counts[d.name] = {"calibration": min(calib, len(files)),
                          "test": max(0, min(clips, len(files) - calib))}
    if not cal or not test:
        raise ConfigError(f"int8 calibration needs speech: no corpus with audio under {root} "
                          f"(give --data ROOT, a folder of corpora).")
    return cal, test, counts


def run_int8(args) -> int:
    from ser_core.data.registry import default_data_root
    from ser_core.onnx_export import ExportError
    from ser_core.onnx_int8 import Int8Error, calibrate_checkpoint

    todo = _checkpoints(args.checkpoint)
    root = Path(args.data).expanduser() if args.data else (default_data_root() or Path("data"))
    cal, test, counts = _clip_sets(root, args.calib, args.clips)
    describe = {"calibration": {"corpora": {k: v["calibration"] for k, v in counts.items()}},
                "measured": {"corpora": {k: v["test"] for k, v in counts.items()}}}
    errors = []
    for directory, name in todo:
        try:
            body = calibrate_checkpoint(directory, cal, test, threads=args.threads, describe=describe)
        except (ExportError, Int8Error) as exc:
            errors.append(str(exc))
            print(f"error: {exc}", file=sys.stderr)
            continue
        m = body["measured"]
        if args.json:
            print(json.dumps({"checkpoint": str(directory), "use": body["use"], **m}))
        else:
            print(f"{name}: int8 {m['int8_ms']:.1f} ms vs float32 {m['float32_ms']:.1f} ms "
                  f"({m['speedup']:.2f}x, {args.threads} thread), same top class on "
                  f"{100 * m['same_top_class']:.1f} % of {m['test_clips']} clips; {body['why']}")
    if errors:
        raise ExportError(f"{len(errors)} of {len(todo)} checkpoints could not be calibrated; "
                          f"the first: {errors[0]}")
    return 0


def run(args) -> int:
    from ser_core.onnx_export import ExportError, export_checkpoint

    if args.format == "int8":
        return run_int8(args)
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
