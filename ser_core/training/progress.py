"""Progress reporting: a terminal bar per epoch and machine-readable JSON lines.

``RUN_DIR/progress.jsonl`` gets one JSON object per line, appended and flushed as training
goes (only rank 0 writes under DDP). Every line has ``event`` (str), ``time`` (Unix seconds,
float) and ``fraction`` (overall progress of the run in [0, 1], an estimate while epochs may
stop early). Per event, additionally:

``run_start``   ``model``, ``corpora`` (list), ``protocol``, ``folds`` (count), ``epochs``
                (max per fold), ``device``, ``world_size``
``fold_start``  ``fold`` (0-based), ``folds``, ``train``, ``val``, ``test`` (utterance counts),
                ``train_segments``
``step``        ``fold``, ``epoch`` (1-based), ``epochs``, ``step`` (1-based), ``steps``,
                ``loss`` (running mean of this epoch's training loss), ``lr``, ``eta_s``
                (at most one line per second)
``epoch_end``   ``fold``, ``epoch``, ``epochs``, ``train_loss``, ``val`` (``{"loss", "wa",
                "ua", "weighted_f1", "macro_f1"}`` on the validation split, utterance level;
                ``null`` without one), ``best`` (bool: new best checkpoint), ``lr``,
                ``epoch_s``, ``eta_s``
``early_stop``  ``fold``, ``epoch``, ``reason`` (``patience`` or a seed 002 rule ``A1``..``B3``)
``fold_end``    ``fold``, ``folds``, ``best_epoch``, ``test`` (``{"wa", "ua", "weighted_f1",
                "macro_f1", "n"}``), ``eta_s``
``run_end``     ``status`` (``ok`` | ``abandoned``), ``summary`` (mean/std per metric),
                ``elapsed_s``, ``results`` (path of results.json)
``error``       ``message``

``eta_s`` is the estimated number of seconds until the whole run ends (mean epoch time x
epochs left at the maximum budget, so it is an upper bound when early stopping fires).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf → None, tuples → lists, numpy/torch scalars → Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return _clean(obj.item())
        except (ValueError, RuntimeError):
            return str(obj)
    return obj


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Writes ``progress.jsonl`` and draws the terminal line. Inactive on non-zero ranks."""

    def __init__(self, path: str | Path | None, active: bool = True, stream: TextIO | None = None,
                 quiet: bool = False, min_interval_s: float = 1.0) -> None:
        self.active = active
        self.path = Path(path) if path is not None else None
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval_s = min_interval_s
        self._last_step_t = 0.0
        self._fh = None
        self.started = time.time()
        # for ETA / fraction
        self.total_folds = 1
        self.epochs = 1
        self.epoch_times: list[float] = []
        self.done_epochs = 0  # finished epochs counted at max budget for finished folds
        if self.active and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")

    # -- JSON lines -----------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        if not self.active:
            return
        body = {"event": event, "time": round(time.time(), 3),
                "fraction": round(self.fraction(), 4), **fields}
        if self._fh is not None:
            self._fh.write(json.dumps(_clean(body)) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- estimates ------------------------------------------------------------------------
    def plan(self, folds: int, epochs: int) -> None:
        self.total_folds, self.epochs = max(1, folds), max(1, epochs)

    def fraction(self, partial_epoch: float = 0.0) -> float:
        total = self.total_folds * self.epochs
        return min(1.0, (self.done_epochs + partial_epoch) / total) if total else 0.0

    def eta(self, partial_epoch: float = 0.0) -> float | None:
        if not self.epoch_times:
            return None
        per = sum(self.epoch_times[-10:]) / len(self.epoch_times[-10:])
        left = self.total_folds * self.epochs - self.done_epochs - partial_epoch
        return max(0.0, left * per)

    def epoch_finished(self, seconds: float) -> None:
        self.epoch_times.append(seconds)
        self.done_epochs += 1

    def fold_finished(self, fold: int, epochs_run: int) -> None:
        """Count the epochs early stopping skipped as done, so fractions stay monotone."""
        self.done_epochs = (fold + 1) * self.epochs

    # -- terminal ---------------------------------------------------------------------------
    def step(self, fold: int, epoch: int, step: int, steps: int, loss: float, lr: float,
             t_epoch_start: float) -> None:
        if not self.active:
            return
        now = time.time()
        if step != steps and now - self._last_step_t < self.min_interval_s:
            return
        self._last_step_t = now
        partial = step / max(1, steps)
        elapsed = now - t_epoch_start
        eta = self.eta(partial)
        if eta is None and step > 0:
            per_epoch = elapsed / partial
            eta = per_epoch * (self.total_folds * self.epochs - self.done_epochs - partial)
        self.emit("step", fold=fold, epoch=epoch, epochs=self.epochs, step=step, steps=steps,
                  loss=loss, lr=lr, eta_s=eta)
        if self.quiet or not self.tty:
            return
        width = 24
        filled = int(round(width * partial))
        rate = step / elapsed if elapsed > 0 else 0.0
        line = (f"\rfold {fold + 1}/{self.total_folds} epoch {epoch}/{self.epochs} "
                f"[{'#' * filled}{'.' * (width - filled)}] {100 * partial:3.0f}% "
                f"loss {loss:.4f} {rate:.1f} it/s eta {fmt_duration(eta)} ")
        self.stream.write(line)
        self.stream.flush()

    def line(self, text: str) -> None:
        """A whole line on the terminal (ends the \\r bar)."""
        if not self.active or self.quiet:
            return
        prefix = "\r" if self.tty else ""
        pad = " " * 10 if self.tty else ""
        self.stream.write(f"{prefix}{text}{pad}\n")
        self.stream.flush()
