"""The results directory of a run: everything a run used and produced, in one folder.

Layout (``OUT`` is the ``--out`` folder)::

    OUT/run.json          manifest: command line, status, timings, resolved configuration
                          (model + model_config, recipe, labels + label-set tables, protocol and
                          its parameters, seed, subset limits, device, AMP), corpora with
                          root, file counts, license and citation, environment (versions, git
                          commit and dirty flag, host)
    OUT/progress.jsonl    progress events (schema: ser_core.training.progress)
    OUT/splits.json       the split exactly as used: protocol, params, fingerprint, per fold the
                          train/val/test utterance ids and speakers, excluded duplicates
    OUT/results.json      per fold: test metrics (WA, UA, weighted/macro F1, row-normalised and
                          raw confusion matrices, per-class recall), best epoch, stop reason,
                          validation metrics at the best epoch, timings; ``summary``: mean ± std
                          over folds, mean and pooled confusion matrices
    OUT/history.json      per fold, per epoch: training loss, validation loss and metrics, lr,
                          seconds
    OUT/predictions.csv   one row per test utterance and fold: fold, uid, corpus, speaker, path,
                          true, pred, correct, p_<label> for every label
    OUT/predictions.json  the same rows as a JSON list
    OUT/checkpoint/       the checkpoint of the fold with the best validation score
                          (safetensors + config.json; meta carries every fold's metrics and the
                          mean) — what ``evaluate``/``finetune``/``predict`` take
    OUT/folds/<fold>/     per-fold checkpoints (only with ``--save-fold-checkpoints``)

A fine-tuning run adds ``before`` (zero-shot) metrics per fold next to the fine-tuned ones.
"""

from __future__ import annotations

import csv
import datetime as _dt
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ser_core.training.manifest import environment, write_json


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """Writes the files of one run (rank 0 only: construct with ``active=False`` elsewhere)."""

    def __init__(self, path: str | Path, active: bool = True) -> None:
        self.path = Path(path).expanduser().resolve()
        self.active = active
        self.started = time.time()
        self.manifest: dict[str, Any] = {}
        self.prediction_rows: list[dict] = []
        self.history: dict[str, list] = {}
        if active:
            self.path.mkdir(parents=True, exist_ok=True)
            for stale in ("results.json", "predictions.csv", "predictions.json", "history.json",
                          "progress.jsonl"):
                (self.path / stale).unlink(missing_ok=True)

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.jsonl"

    def write_manifest(self, argv: Sequence[str] | None, config: dict, corpora: list[dict]) -> None:
        self.manifest = {"kind": "ser_core run", "format_version": 1, "status": "running",
                         "started": now_iso(), "argv": list(argv or []),
                         "command": "python -m ser_core " + " ".join(argv or []),
                         "config": config, "corpora": corpora, "environment": environment()}
        if self.active:
            write_json(self.path / "run.json", self.manifest)

    def finish(self, status: str, **extra: Any) -> None:
        self.manifest.update({"status": status, "finished": now_iso(),
                              "elapsed_s": round(time.time() - self.started, 2), **extra})
        if self.active:
            write_json(self.path / "run.json", self.manifest)

    def write_split(self, split_dict: dict) -> None:
        if self.active:
            write_json(self.path / "splits.json", split_dict)

    def add_predictions(self, fold: str, items: Sequence[Any], utt_indices: Sequence[int],
                        probs: np.ndarray, labels: Sequence[str], stage: str | None = None) -> None:
        for row_i, u in enumerate(utt_indices):
            it = items[u]
            p = probs[row_i]
            pred = int(np.argmax(p))
            row = {"fold": fold}
            if stage is not None:
                row["stage"] = stage
            row.update({"uid": it.uid, "corpus": it.corpus, "speaker": it.speaker,
                        "path": it.path, "true": labels[it.y], "pred": labels[pred],
                        "correct": int(pred == it.y)})
            row.update({f"p_{name}": round(float(v), 6) for name, v in zip(labels, p)})
            self.prediction_rows.append(row)

    def write_predictions(self) -> None:
        if not self.active:
            return
        rows = self.prediction_rows
        write_json(self.path / "predictions.json", rows)
        fields: list[str] = []
        for r in rows:
            for k in r:
                if k not in fields:
                    fields.append(k)
        tmp = self.path / ".predictions.csv.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.path / "predictions.csv")

    def write_history(self, fold: str, history: list[dict]) -> None:
        self.history[fold] = history
        if self.active:
            write_json(self.path / "history.json", self.history)

    def write_results(self, results: dict) -> Path:
        path = self.path / "results.json"
        if self.active:
            write_json(path, results)
        return path

    def fold_dir(self, fold: str) -> Path:
        return self.path / "folds" / fold

    def copy_checkpoint(self, src: Path, name: str = "checkpoint") -> Path:
        dst = self.path / name
        if self.active and src.resolve() != dst.resolve():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
        return dst
