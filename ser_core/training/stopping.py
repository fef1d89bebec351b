"""Early stopping: patience on a validation metric, and seed 002's rules A/B/C.

:class:`EarlyStopping` tracks the best value of the monitored validation metric; the trainer
keeps that epoch's weights. :class:`Seed002Rules` implements seed 002 §"Early-Stopping
Algorithm" literally, with its 2nd-qualification-stage thresholds as defaults (fractions,
not percent); epochs are 1-based as in the seed:

* A1-A7 (abandon a poor model): stop if epoch is 20/50/75/100 or 125/150/200/250 and the
  validation macro-F1 is below the rule's threshold. The seed then abandons the whole
  cross-validation (``verdict == "abandon"``).
* B1 (overfitting): epoch > 50, divisible by 4, and validation loss rose in each of the last
  four 4-epoch steps (L[e] > L[e-4] > L[e-8] > L[e-12] > L[e-16]).
* B2 (plateau): epoch > 50, divisible by 4, and the macro-F1 changes between
  e, e-4, e-8, e-12, e-16 are all below 1 percentage point (the seed's "less than 1.0%": we
  read it as the absolute difference).
* B3 (slow progress): epoch > 110, divisible by 40, and macro-F1[e] - macro-F1[e-40] is below
  ``b3_threshold`` (the seed leaves the value open: 1 point by default).
  B rules end training of the fold normally (``verdict == "stop"``).
* C (after a fold): stop the cross-validation if the fold's macro-F1 and accuracy are both
  below their thresholds (:meth:`Seed002Rules.fold_fails`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ser_core.training.recipes import MONITORS

#: seed 002, 2nd qualification stage thresholds (A1..A7), as fractions
A_THRESHOLDS = (0.42, 0.45, 0.48, 0.51, 0.54, 0.56, 0.58)
A_EPOCHS = ((20,), (50,), (75,), (100, 125), (150,), (200,), (250,))


class EarlyStopping:
    """Patience on ``monitor`` (``ua``/``wa``/``macro_f1``/``weighted_f1`` up, ``loss`` down)."""

    def __init__(self, monitor: str = "ua", patience: int = 8, min_delta: float = 0.0) -> None:
        self.monitor = monitor
        self.mode = MONITORS[monitor]
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, epoch: int, value: float) -> bool:
        """Record ``value`` of ``epoch``; returns True when this epoch is the new best."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience


@dataclass
class Seed002Rules:
    """Seed 002's rules. Feed :meth:`check` once per epoch (1-based) with validation loss and
    macro-F1; it returns ``None`` (go on), ``("stop", rule)`` or ``("abandon", rule)``."""

    a_thresholds: tuple[float, ...] = A_THRESHOLDS
    b3_threshold: float = 0.01
    c_macro_f1: float = 0.60
    c_accuracy: float = 0.60
    losses: dict[int, float] = field(default_factory=dict)
    f1s: dict[int, float] = field(default_factory=dict)

    def check(self, epoch: int, val_loss: float, val_macro_f1: float) -> tuple[str, str] | None:
        self.losses[epoch] = float(val_loss)
        self.f1s[epoch] = float(val_macro_f1)
        for i, (epochs, thr) in enumerate(zip(A_EPOCHS, self.a_thresholds)):
            if epoch in epochs and val_macro_f1 < thr:
                return ("abandon", f"A{i + 1}")
        if epoch > 50 and epoch % 4 == 0:
            steps = [epoch - 4 * j for j in range(5)]
            if all(s in self.losses for s in steps):
                L = [self.losses[s] for s in steps]
                if all(L[j] > L[j + 1] for j in range(4)):
                    return ("stop", "B1")
            if all(s in self.f1s for s in steps):
                F = [self.f1s[s] for s in steps]
                if all(abs(F[j] - F[j + 1]) < 0.01 for j in range(4)):
                    return ("stop", "B2")
        if epoch > 110 and epoch % 40 == 0 and (epoch - 40) in self.f1s:
            if self.f1s[epoch] - self.f1s[epoch - 40] < self.b3_threshold:
                return ("stop", "B3")
        return None

    def fold_fails(self, fold_macro_f1: float, fold_accuracy: float) -> bool:
        """Rule C: the fold's macro-F1 *and* accuracy are below their thresholds."""
        return fold_macro_f1 < self.c_macro_f1 and fold_accuracy < self.c_accuracy
