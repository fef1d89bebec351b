"""Resumable training: the state of a fold after its last completed epoch.

After every epoch the trainer writes ``OUT/resume/fold<k>.pt`` (model, optimiser and
scheduler state, early-stopping counters, the random generators, the best weights so far and
the history). A run started again with the same ``--out`` and the same configuration
continues each fold from its last completed epoch; a fold that had finished only repeats its
test evaluation. The files carry a key (a hash of the run's configuration and split): a run
with another configuration ignores them and starts afresh. They are removed when the run
finishes.

The files are read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists
and dicts only, never arbitrary pickled objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

DIRNAME = "resume"


def run_key(config: dict, split_fingerprint: str) -> str:
    """What must match for a saved state to be resumed (configuration + split)."""
    body = json.dumps({"config": config, "split": split_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def path_for(directory: Path, fold: int) -> Path:
    return Path(directory) / f"fold{fold}.pt"


def save(directory: Path, fold: int, state: dict[str, Any]) -> None:
    """Write atomically (a stop during the write leaves the previous epoch's file)."""
    path = path_for(directory, fold)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(directory: Path | None, fold: int, key: str) -> dict[str, Any] | None:
    """The saved state of ``fold`` when it exists and was written under ``key``."""
    if directory is None:
        return None
    path = path_for(directory, fold)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a torn or foreign file: start the fold afresh
        return None
    return state if isinstance(state, dict) and state.get("key") == key else None


def clear(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


FIT_FIELDS = ("best_state", "best_epoch", "history", "stop_reason", "abandoned", "normalization")


GENERATORS = ("gen", "aug_gen", "mix_gen", "mask_gen")


def state_of(key: str, epoch: int, finished: bool, st) -> dict[str, Any]:
    """Everything a fold (``st``: the trainer's ``_FitState``) needs to continue after ``epoch``."""
    return {"key": key, "epoch": epoch, "finished": finished, "model": st.model.state_dict(),
            "optimizer": st.opt.state_dict(),
            "scheduler": st.sched.state_dict() if st.sched is not None else None,
            "stopper": dict(st.stopper.__dict__),
            "rules": dict(st.rules.__dict__) if st.rules is not None else None,
            "generators": {n: getattr(st, n).get_state() for n in GENERATORS},
            "np_rng": st.mix_rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            **{f: getattr(st, f) for f in FIT_FIELDS}}


def restore(saved: dict[str, Any], st) -> int:
    """Put a fold's objects back into the state :func:`state_of` captured; returns its epoch."""
    st.model.load_state_dict(saved["model"])
    st.opt.load_state_dict(saved["optimizer"])
    if st.sched is not None and saved.get("scheduler") is not None:
        st.sched.load_state_dict(saved["scheduler"])
    st.stopper.__dict__.update(saved["stopper"])
    if st.rules is not None and saved.get("rules") is not None:
        st.rules.__dict__.update(saved["rules"])
    for n in GENERATORS:
        if n in saved["generators"]:  # a state saved before spec_mask existed has no mask_gen
            getattr(st, n).set_state(saved["generators"][n])
    st.mix_rng.bit_generator.state = saved["np_rng"]
    torch.set_rng_state(saved["torch_rng"])  # dropout
    for f in FIT_FIELDS:
        setattr(st, f, saved[f])
    return int(saved["epoch"])
