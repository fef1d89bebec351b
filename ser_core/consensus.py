"""The consensus settings fitted on held-out speakers: ``checkpoints/consensus.json``.

The inference service averages the models' (temperature-calibrated) posteriors
(:func:`ser_core.inference.consensus_of`). This file, written by
``scripts/calibrate_shipped.py``, adds what was fitted on speakers none of the models trained
on (see the README, "Calibration and 'not sure'"):

``threshold``
    the consensus answers "not sure" when its top probability is below it (chosen on
    held-out speakers for a stated coverage/accuracy trade-off, ``threshold_choice``);
``stacking``
    a fitted consensus: a multinomial logistic regression over the members' calibrated
    log-probabilities (``members``, each with its ``labels``; ``coef`` ``(classes, sum of
    member label counts)``, ``intercept``), used only when every member is installed; the
    plain mean stays available (``method="mean"``);
``mean_temperature``
    with ``method="mean"``: the shown consensus is ``softmax(log mean / T)``; averaging
    calibrated members leaves the mean under-confident, and ``T`` fitted on held-out
    speakers restores its calibration (the top class never changes);
``measured``
    the numbers behind both, for ``report`` and the Compare page.

Standard library and torch only; no scikit-learn at inference time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ser_core.errors import CheckpointError

FILENAME = "consensus.json"


@dataclass
class ConsensusSettings:
    threshold: float | None = None
    method: str = "mean"                        # "mean" or "stacked" (what the app shows)
    stacking: dict | None = None
    mean_temperature: float | None = None
    measured: dict = field(default_factory=dict)
    path: str | None = None

    def stacked_probs(self, predictions: Sequence[Any]) -> tuple[list[str], list[float]] | None:
        """The fitted consensus of ``predictions`` (ModelPrediction-like: name, labels, probs),
        or ``None`` when a member is missing."""
        st = self.stacking
        if not st:
            return None
        by_name = {p.name: p for p in predictions}
        feats: list[float] = []
        for member in st["members"]:
            p = by_name.get(member["name"])
            if p is None or list(p.labels) != list(member["labels"]):
                return None
            feats += [math.log(max(float(v), 1e-8)) for v in p.probs]
        logits = [b + sum(w * x for w, x in zip(row, feats))
                  for row, b in zip(st["coef"], st["intercept"])]
        return list(st["labels"]), _softmax(logits)

    def sharpens(self, predictions: Sequence[Any]) -> bool:
        """Whether the mean consensus of ``predictions`` gets the consensus temperature: it
        was fitted on the mean of exactly the members measured (a subset's mean is another
        distribution, e.g. one model alone is not under-confident at all)."""
        members = set(self.measured.get("members") or ())
        return bool(self.mean_temperature) and {p.name for p in predictions} == members

    def is_uncertain(self, top_prob: float) -> bool | None:
        return None if self.threshold is None else bool(top_prob < self.threshold)


def load_settings(root: str | Path | None) -> ConsensusSettings | None:
    """``ROOT/consensus.json`` as settings; ``None`` when absent. A broken file raises
    :class:`~ser_core.errors.CheckpointError` with the reason."""
    if root is None:
        return None
    path = Path(root) / FILENAME
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        return ConsensusSettings(threshold=body.get("threshold"), method=body.get("method", "mean"),
                                 stacking=body.get("stacking"), measured=body.get("measured") or {},
                                 mean_temperature=body.get("mean_temperature"),
                                 path=str(path))
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"{path} is not a valid consensus file: {exc}.") from None


def save_settings(root: str | Path, body: dict) -> Path:
    from ser_core.data.atomic import atomic_write_bytes

    path = Path(root) / FILENAME
    atomic_write_bytes(path, (json.dumps(body, indent=1) + "\n").encode())
    path.chmod(0o644)  # readable like the checkpoints beside it
    return path


def consensus_settings(roots: Sequence[Path], failed: dict[str, str]) -> ConsensusSettings | None:
    """The first checkpoint root's ``consensus.json`` (a broken one is reported in ``failed``)."""
    for root in roots:
        try:
            found = load_settings(root if root.is_dir() else None)
        except CheckpointError as exc:
            failed[str(root / "consensus.json")] = str(exc)
            continue
        if found is not None:
            return found
    return None


def settle_consensus(cons, preds: Sequence[Any], settings: ConsensusSettings | None):
    """Apply ``checkpoints/consensus.json``: the fitted (stacked) consensus when it is the
    chosen method and every member is installed, and the "not sure" threshold."""
    if cons is None or settings is None:
        return cons
    from ser_core.inference import Consensus

    if settings.method == "stacked":
        stacked = settings.stacked_probs(preds)
        if stacked is not None:
            labels, probs = stacked
            mean = [cons.probs[cons.labels.index(l)] if l in cons.labels else 0.0 for l in labels]
            top = labels[max(range(len(probs)), key=probs.__getitem__)]
            votes = {**{l: 0 for l in labels}, **cons.votes}
            cons = Consensus(labels=labels, probs=probs, votes=votes,
                             agreement=votes.get(top, 0) / max(len(preds), 1), method="stacked",
                             mean_probs=mean)
    elif settings.sharpens(preds):
        cons = sharpen(cons, settings.mean_temperature)
    cons.threshold = settings.threshold
    cons.uncertain = settings.is_uncertain(cons.top_prob)
    return cons


def sharpen(cons, temperature: float):
    """The mean consensus with its temperature: ``softmax(log p / T)``; same top class."""
    cons.mean_probs = list(cons.probs)
    cons.probs = _softmax([math.log(max(p, 1e-12)) / temperature for p in cons.probs])
    return cons


def _softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    e = [math.exp(v - top) for v in logits]
    total = sum(e)
    return [v / total for v in e]


def member_result(r: dict) -> tuple[dict, dict | None]:
    """A member's entry in ``measured.per_model``: its scores on the scored set (``before`` /
    ``after`` calibration) and its reliability bins. Files written before the held-out-speakers
    mode call them ``cremad`` and ``reliability_cremad``."""
    return r.get("scored") or r["cremad"], r.get("reliability") or r.get("reliability_cremad")


def calibration_text(settings: ConsensusSettings | None) -> str:
    """``report``'s calibration section: per model and for the consensus, UA, expected
    calibration error before/after temperature scaling, top-class share; the threshold."""
    m = (settings.measured if settings else None) or {}
    if not m:
        return ""
    lines = [f"Calibration ({m['protocol']}; {m['clips']} clips, {m['speakers']} speakers; ECE 15 bins)",
             "| model | temperature | UA % | ECE before % | ECE after % | top-class share % |",
             "|---|---|---|---|---|---|"]
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    for name, r in m["per_model"].items():
        c = member_result(r)[0]
        before = pct(c["before"]["ece"]) if "before" in c else "—"
        lines.append(f"| `{name}` | {r['temperature']:.2f} | {pct(c['after']['ua'])} | {before} | "
                     f"{pct(c['after']['ece'])} | {100 * c['after']['top_share_pred']:.0f} |")
    for key, v in m["consensus"].items():
        who = f" ({v['model']})" if "model" in v else ""
        lines.append(f"| consensus: {key.replace('_', ' ')}{who} | | {pct(v['ua'])} | | {pct(v['ece'])} | "
                     f"{100 * v['top_share_pred']:.0f} |")
    th = m["threshold_cross_fitted"]
    shown = settings.method + (f" of the calibrated members, sharpened by the consensus temperature "
                               f"{settings.mean_temperature:.2f}" if settings.method == "mean"
                               and settings.mean_temperature else "")
    lines.append(f"\nShown consensus: {shown}. \"Not sure\" below a top probability of "
                 f"{settings.threshold:.2f}; chosen on one half of the speakers, scored on the other: "
                 f"{100 * th['coverage']:.0f} % of clips answered, {pct(th['accuracy_answered'])} % of "
                 f"them right, against {pct(th['accuracy_all'])} % over all clips.")
    return "\n".join(lines)
