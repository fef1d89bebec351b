"""Reading the measured results a checkpoint's metadata carries, for tables and plots.

The trainer writes ``CheckpointMeta.metrics`` (``mean``/``std`` over folds, per-``folds`` rows,
the ``test`` fold...) and ``.confusion_matrix`` (``labels`` plus matrices); other tools may
add nested scopes (per corpus, cross-corpus). :func:`metric_rows` finds every dict holding
WA/UA/F1 values wherever it sits and names it by its path, so the app shows what was
measured without knowing every producer's layout.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from ser_core.checkpoint import CheckpointMeta

KEYS = ("ua", "wa", "weighted_f1", "macro_f1")
NAMES = {"ua": "UA", "wa": "WA", "weighted_f1": "WF1", "macro_f1": "MF1"}


def _num(v: Any) -> float | None:
    if isinstance(v, dict) and "mean" in v:
        v = v["mean"]
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _walk(obj: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict]]:
    if isinstance(obj, dict):
        if any(k in obj for k in KEYS):
            yield path, obj
        for k, v in obj.items():
            if k in KEYS or k in ("confusion", "confusion_counts", "confusion_pooled", "values"):
                continue
            yield from _walk(v, path + (str(k),))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            name = str(v.get("fold", i)) if isinstance(v, dict) else str(i)
            yield from _walk(v, path + (f"#{name}",))


def metric_rows(meta: CheckpointMeta) -> list[dict[str, Any]]:
    """One row per measured scope: ``{"scope", "UA", "WA", "WF1", "MF1"}`` in percent, with
    ``± std`` columns where the metadata gives a std for that scope."""
    metrics = meta.metrics
    std = metrics.get("std") if isinstance(metrics.get("std"), dict) else {}
    rows = []
    for path, d in _walk(metrics, ()):
        if path and path[0] == "std":
            continue
        scope = " / ".join(path) or "overall"
        row: dict[str, Any] = {"scope": "mean over folds" if scope == "mean" else scope}
        for k in KEYS:
            v = _num(d.get(k))
            row[NAMES[k]] = None if v is None else round(100 * v, 2)
            s = d.get(k, {}).get("std") if isinstance(d.get(k), dict) else (std.get(k) if scope == "mean" else None)
            if _num(s) is not None:
                row[f"{NAMES[k]} ±"] = round(100 * _num(s), 2)
        rows.append(row)
    return rows


def headline_ua(meta: CheckpointMeta) -> float | None:
    """The UA to quote for a checkpoint: mean over folds when present, else the first found."""
    metrics = meta.metrics
    mean = metrics.get("mean")
    if isinstance(mean, dict) and _num(mean.get("ua")) is not None:
        return _num(mean.get("ua"))
    for path, d in _walk(metrics, ()):
        if _num(d.get("ua")) is not None and (not path or path[0] != "std"):
            return _num(d.get("ua"))
    return None


def confusion_matrices(meta: CheckpointMeta) -> list[tuple[str, list[str], list[list[float]]]]:
    """``(title, labels, matrix)`` of every confusion matrix in the metadata."""
    cm = meta.confusion_matrix
    out = []
    labels = list(meta.labels)
    if isinstance(cm, dict):
        labels = list(cm.get("labels") or labels)
        for k, v in cm.items():
            if k != "labels" and isinstance(v, list) and v and isinstance(v[0], list):
                out.append((k.replace("_", " "), labels, v))
    elif isinstance(cm, list) and cm and isinstance(cm[0], list):
        out.append(("confusion", labels, cm))
    return out


def training_data(meta: CheckpointMeta) -> str:
    """A short description of what the checkpoint was trained on."""
    corpora = meta.training_corpora or [c.get("name") for c in meta.corpora]
    return ", ".join(str(c) for c in corpora if c) or "—"


def protocol_name(meta: CheckpointMeta) -> str:
    return str(meta.protocol.get("name") or meta.protocol) if meta.protocol else "—"


def citations(meta: CheckpointMeta) -> list[str]:
    out = []
    for c in meta.corpora:
        if isinstance(c, dict) and c.get("citation"):
            out.append(f"{c.get('name', '')}: {c['citation']}")
    return out
