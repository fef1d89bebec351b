"""The checkpoint format: a directory with ``model.safetensors`` and ``config.json``.

``config.json`` holds everything needed to rebuild and use the model without guessing: a
:class:`~ser_core.checkpoint.meta.CheckpointMeta` (registered model name and resolved config,
labels, sample rate, input spec and feature config, normalisation, provenance and metrics).
Loading never unpickles anything: weights are safetensors, metadata is JSON.

Writes are atomic: files go to a temporary sibling directory that is renamed into place,
so a crash never leaves a half-written checkpoint that the app would load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ser_core.checkpoint.meta import FORMAT_VERSION, CheckpointMeta
from ser_core.errors import CheckpointError, ConfigError
from ser_core.fswalk import walk_once

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
__all__ = ["WEIGHTS", "CONFIG", "FORMAT_VERSION", "save_checkpoint", "read_meta",
           "load_checkpoint", "find_checkpoints"]


def save_checkpoint(directory: str | Path, model: torch.nn.Module, meta: CheckpointMeta,
                    half: bool = False) -> Path:
    """Write ``model``'s weights and ``meta`` to ``directory`` atomically (replacing it).

    ``half=True`` stores floating-point tensors as float16 (loaded back as float32).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_file(state, str(tmp / WEIGHTS))
        body = dataclasses.replace(meta, format_version=FORMAT_VERSION,
                                   weights_dtype="float16" if half else "float32").to_dict()
        (tmp / CONFIG).write_text(json.dumps(body, indent=2, sort_keys=False, default=_jsonable))
        for f in (WEIGHTS, CONFIG):
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old.{os.getpid()}")
            os.replace(directory, old)
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _jsonable(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def read_meta(directory: str | Path) -> CheckpointMeta:
    """Read ``config.json`` of a checkpoint directory (no weights)."""
    directory = Path(directory)
    cfg = directory / CONFIG
    if not cfg.is_file() or not (directory / WEIGHTS).is_file():
        raise CheckpointError(f"{directory} is not a checkpoint (needs {WEIGHTS} and {CONFIG}).")
    try:
        data = json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{cfg} holds no JSON object.")
    from ser_core.checkpoint_checks import validate_meta

    meta = CheckpointMeta.from_dict(data, where=str(directory))
    validate_meta(data, directory)  # the raw JSON (before coercion): refused here, not mid-prediction
    return meta


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the model of a checkpoint directory. Returns ``(model, meta)``, model in eval mode."""
    from ser_core.checkpoint_checks import check_weights
    from ser_core.models import create_model

    meta = read_meta(directory)
    try:
        model = create_model(meta.model, meta.num_classes, **meta.model_config)
    except ConfigError as exc:
        raise CheckpointError(f"{directory}: {exc}") from None
    state = load_file(str(Path(directory) / WEIGHTS), device="cpu")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    check_weights(state, directory)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{directory}: weights do not match {meta.model} "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")
    model.to(device).eval()
    return model, meta


def find_checkpoints(root: str | Path) -> list[Path]:
    """Every checkpoint directory under ``root`` (sorted), skipping hidden (temporary) ones.

    Symlinked folders are followed (a trained run's checkpoint linked into ``checkpoints/`` is
    found; ``Path.rglob`` skips them before Python 3.13), each real folder once, so a link
    cycle ends."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for here, subdirs, files in walk_once(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        if CONFIG in files and (here / WEIGHTS).is_file():  # not a dangling link
            found.append(here)
    return sorted(found)
