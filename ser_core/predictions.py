"""What a prediction is: one model's answer (:class:`ModelPrediction`), the models combined
(:class:`Consensus`, labels compared by meaning through ekman7's synonym table) and every
model's answer for one clip (:class:`ClipPrediction`, the CLI's JSON object).

Plain results, split from :mod:`ser_core.inference` (which re-exports them) so that the
service module stays readable; they need nothing but torch and the label sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch


class _Posterior:
    """``top`` and ``top_prob`` of anything with ``labels`` and ``probs``."""

    labels: list[str]
    probs: list[float]

    @property
    def top(self) -> str:
        return self.labels[max(range(len(self.probs)), key=self.probs.__getitem__)]

    @property
    def top_prob(self) -> float:
        return max(self.probs)


@dataclass
class ModelPrediction(_Posterior):
    """One model's answer for one clip."""

    name: str
    model: str
    checkpoint: str
    labels: list[str]
    probs: list[float]                  # utterance posterior, sums to 1
    segment_probs: list[list[float]]    # (n_segments, classes)
    segment_starts_s: list[float]
    segment_s: float | None
    aggregation: str
    seconds: float                      # wall time of this model on this clip
    segment_votes: list[bool] = field(default_factory=list)   # segments pooled (speech, not padding)

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON object for this model."""
        return {"name": self.name, "checkpoint": self.checkpoint, "labels": self.labels,
                "probs": [round(float(p), 6) for p in self.probs], "top": self.top}


@dataclass
class Consensus(_Posterior):
    """Models combined: mean posterior over the union of label sets, and top-1 votes.

    Labels are compared by meaning, not spelling: each passes through the ekman7 label set's
    table of common synonyms (``anger`` and ``angry`` are one class, ``fearful`` is ``fear``);
    labels outside it (``calm``, ``boredom``) stay as they are. A model without a label
    contributes probability 0 to it; the mean is renormalised. ``agreement`` is the share of
    models whose top label is the consensus top.
    """

    labels: list[str]
    probs: list[float]
    votes: dict[str, int]
    agreement: float
    method: str = "mean"                 # "mean", or "stacked" (checkpoints/consensus.json)
    uncertain: bool | None = None        # top probability below the fitted threshold
    threshold: float | None = None
    mean_probs: list[float] | None = None  # the plain mean, kept when ``probs`` is stacked or sharpened

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "probs": [round(float(p), 6) for p in self.probs],
                "top": self.top, "method": self.method, "uncertain": self.uncertain,
                "threshold": self.threshold}


def _synonyms() -> dict[str, str]:
    from ser_core.data import EKMAN7

    return {k: v for k, v in EKMAN7.table("generic").items() if v}


def canonical_label(label: str, table: dict[str, str] | None = None) -> str:
    """``label`` under its common name (ekman7's synonym table), else unchanged."""
    table = _synonyms() if table is None else table
    return table.get(label.strip().lower(), label)


def label_union(predictions: Sequence[ModelPrediction], table: dict[str, str] | None = None
                ) -> list[str]:
    """Every label of ``predictions`` under its common name, once, in order of appearance."""
    table = _synonyms() if table is None else table
    labels: list[str] = []
    for p in predictions:
        labels += [c for c in (canonical_label(lab, table) for lab in p.labels) if c not in labels]
    return labels


def probs_by_label(prediction: ModelPrediction, table: dict[str, str] | None = None
                   ) -> dict[str, float]:
    """One model's posterior keyed by the common names of its labels."""
    table = _synonyms() if table is None else table
    return {canonical_label(lab, table): p for lab, p in zip(prediction.labels, prediction.probs)}


def consensus_of(predictions: Sequence[ModelPrediction]) -> Consensus | None:
    if not predictions:
        return None
    table = _synonyms()
    labels = label_union(predictions, table)
    total = torch.zeros(len(labels), dtype=torch.float64)
    votes = {lab: 0 for lab in labels}
    for p in predictions:
        for lab, prob in zip(p.labels, p.probs):
            total[labels.index(canonical_label(lab, table))] += prob
        votes[canonical_label(p.top, table)] += 1
    total = total / total.sum().clamp_min(1e-12)
    probs = total.tolist()
    top = labels[max(range(len(probs)), key=probs.__getitem__)]
    return Consensus(labels=labels, probs=probs, votes=votes, agreement=votes[top] / len(predictions))


@dataclass
class ClipPrediction:
    """Every model's answer for one clip."""

    name: str
    duration_s: float
    sample_rate: int
    models: list[ModelPrediction]
    consensus: Consensus | None
    seconds: float = 0.0
    speech: Any = None      # ser_core.vad.Speech when voice activity detection ran

    @property
    def enough_speech(self) -> bool:
        return self.speech is None or self.speech.enough

    def as_dict(self, path: str | None = None) -> dict[str, Any]:
        """The CLI's JSON object for this input (``uncertain``/``threshold``: the consensus'
        "not sure", ``null`` without a fitted threshold; ``speech``: what voice activity
        detection found)."""
        cons = self.consensus
        out = {"path": path if path is not None else self.name,
               "duration_s": round(self.duration_s, 4), "sample_rate": self.sample_rate,
               "models": [m.as_dict() for m in self.models],
               "consensus": cons.as_dict() if cons else None,
               "uncertain": cons.uncertain if cons else None,
               "threshold": cons.threshold if cons else None}
        if self.speech is not None:
            out["speech"] = {**self.speech.to_dict(), "sentence": self.speech.sentence}
        return out
