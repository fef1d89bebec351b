"""Service: installed checkpoints tested on a corpus none of them trained on (left out).

Leave-one-corpus-out is the number that predicts what a user's own voice gets: the shipped
models never heard the left-out corpus's speakers, studio, microphone or (often) language.
:func:`evaluate_left_out` predicts every utterance of that corpus with the inference service
(the same path as ``predict`` and the app: voice activity detection, segment voting,
consensus), and :func:`scores` reports per model and for the consensus

- UA, WA and macro-F1 over the classes the left-out corpus has (a prediction of a class it
  lacks, e.g. *surprise* on CREMA-D, counts as an error),
- the confusion matrix (rows: true class, columns: every class the models predict),
- the top-class share of the predictions next to the same share of the truth ("it always
  says the same emotion" measured),
- 95 % confidence intervals of UA and macro-F1 from a bootstrap that resamples *speakers*
  (:func:`speaker_bootstrap`): utterances of one speaker are not independent, so resampling
  utterances would give intervals that are far too narrow.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ser_core.errors import ConfigError

N_BOOT = 1000


# ----------------------------------------------------------------------------- metrics

def _ua(conf: np.ndarray) -> float:
    rows = conf.sum(axis=1)
    present = rows > 0
    return float(np.mean(np.diag(conf)[present] / rows[present])) if present.any() else float("nan")


def _macro_f1(conf: np.ndarray) -> float:
    tp = np.diag(conf).astype(float)
    support, predicted = conf.sum(axis=1), conf.sum(axis=0)
    used = (support > 0) | (predicted > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[used].mean()) if used.any() else float("nan")


def _confusions(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray,
                n_classes: int) -> np.ndarray:
    """``(n_groups, C, C)`` confusion counts of each group (speaker)."""
    out = np.zeros((int(groups.max()) + 1, n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (groups, y_true, y_pred), 1)
    return out


def speaker_bootstrap(y_true: Sequence[int], y_pred: Sequence[int], speakers: Sequence[str],
                      n_classes: int, *, n_boot: int = N_BOOT, seed: int = 0,
                      level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of UA and macro-F1, resampling speakers.

    Each replicate draws as many speakers as there are, with replacement, and pools all the
    utterances of the drawn speakers (a speaker drawn twice counts twice). Returns
    ``{"ua": (lo, hi), "macro_f1": (lo, hi)}`` as fractions.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    names, groups = np.unique(np.asarray(speakers), return_inverse=True)
    per_speaker = _confusions(y_true, y_pred, groups, n_classes)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=n_boot)
    pooled = np.einsum("bs,sij->bij", draws, per_speaker)
    alpha = (1.0 - level) / 2
    out = {}
    for key, fn in (("ua", _ua), ("macro_f1", _macro_f1)):
        values = np.array([fn(c) for c in pooled])
        out[key] = (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))
    return out


def top_share(ids: Sequence[int]) -> float:
    """Share of the most frequent id (0..1)."""
    ids = np.asarray(ids)
    return float(np.bincount(ids).max() / len(ids)) if len(ids) else float("nan")


def scores(y_true: Sequence[int], probs: np.ndarray, labels: Sequence[str],
           speakers: Sequence[str], *, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Left-out-corpus scores of posteriors ``probs`` ``(n, len(labels))`` (see module doc)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(probs).argmax(axis=1)
    n = len(labels)
    conf = np.zeros((n, n), dtype=np.int64)
    np.add.at(conf, (y_true, y_pred), 1)
    ci = speaker_bootstrap(y_true, y_pred, speakers, n, n_boot=n_boot, seed=seed)
    present = [i for i in range(n) if conf[i].sum()]
    return {"n": int(len(y_true)), "speakers": int(len(set(speakers))),
            "ua": _ua(conf), "wa": float(np.trace(conf) / conf.sum()), "macro_f1": _macro_f1(conf),
            "ua_ci95": list(ci["ua"]), "macro_f1_ci95": list(ci["macro_f1"]),
            "top_share_pred": top_share(y_pred), "top_share_true": top_share(y_true),
            "top_class_pred": labels[int(np.bincount(y_pred, minlength=n).argmax())],
            "pred_share": (np.bincount(y_pred, minlength=n) / len(y_pred)).round(4).tolist(),
            "labels": list(labels), "classes_present": [labels[i] for i in present],
            "chance_ua": 1.0 / len(present) if present else float("nan"),
            "confusion_counts": conf.tolist()}


# -------------------------------------------------------------------------- evaluation

def trained_on(service) -> dict[str, set[str]]:
    """Corpora each installed model was trained on (from its metadata: ``training_corpora``,
    else every corpus of its provenance not marked as a test corpus)."""
    def field(meta, key: str) -> list:
        return (meta.get(key) if isinstance(meta, dict) else getattr(meta, key, None)) or []

    def corpora(meta) -> set[str]:
        named = field(meta, "training_corpora")
        if named:
            return set(named)
        return {c.get("name") for c in field(meta, "corpora")
                if isinstance(c, dict) and c.get("role", "train") != "test"}

    return {m.name: corpora(m.meta) for m in service.models}


def predict_utterances(service, utterances: Sequence, *,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Consensus and per-model posteriors of every utterance (the inference service's path).

    Returns ``{"labels": consensus labels, "consensus": (n, C), "models": {name: (n, C)}}``
    with every model's posterior placed on the consensus labels.
    """
    from ser_core.audio import load_audio
    from ser_core.inference import canonical_label

    labels: list[str] | None = None
    cons, per_model = [], {m.name: [] for m in service.models}
    for i, u in enumerate(utterances):
        clip = service.predict(load_audio(u.path))
        if labels is None:
            labels = list(clip.consensus.labels)
        cons.append(clip.consensus.probs)
        for p in clip.models:
            row = np.zeros(len(labels))
            for lab, prob in zip(p.labels, p.probs):
                row[labels.index(canonical_label(lab))] += prob
            per_model[p.name].append(row)
        if progress:
            progress(i + 1, len(utterances))
    return {"labels": labels or [], "consensus": np.asarray(cons),
            "models": {k: np.asarray(v) for k, v in per_model.items()}}


def evaluate_left_out(service, utterances: Sequence, corpus: str, *, n_boot: int = N_BOOT,
                      seed: int = 0, progress: Callable[[int, int], None] | None = None,
                      keep_predictions: bool = False) -> dict[str, Any]:
    """Every installed model and their consensus on ``utterances`` of a left-out ``corpus``.

    ``utterances`` carry labels of a label set whose classes the models know. Raises
    :class:`ConfigError` when a model was trained on ``corpus`` (then it is not left out).
    """
    seen = {name: c for name, c in trained_on(service).items() if corpus in c}
    if seen:
        raise ConfigError(f"{', '.join(sorted(seen))} trained on {corpus}: it is not a left-out "
                          f"corpus for them (choose --checkpoint models that never saw it).")
    if not utterances:
        raise ConfigError(f"no utterances of {corpus} to test.")
    t0 = time.time()
    pred = predict_utterances(service, utterances, progress=progress)
    labels = pred["labels"]
    unknown = sorted({u.label for u in utterances} - set(labels))
    if unknown:
        raise ConfigError(f"the models do not know the classes {', '.join(unknown)}.")
    y = [labels.index(u.label) for u in utterances]
    spk = [u.speaker_key for u in utterances]
    out = {"corpus": corpus, "utterances": len(utterances), "speakers": len(set(spk)),
           "labels": labels, "seconds": round(time.time() - t0, 1),
           "settings": {"vad": service.vad, "trim": service.trim, "min_fill": service.min_fill},
           "trained_on": {k: sorted(v) for k, v in trained_on(service).items()},
           "consensus": scores(y, pred["consensus"], labels, spk, n_boot=n_boot, seed=seed),
           "models": {name: scores(y, p, labels, spk, n_boot=n_boot, seed=seed)
                      for name, p in pred["models"].items()}}
    if keep_predictions:  # per clip, on ``labels``: what calibration across corpora is fitted on
        def row(p) -> list[float]:
            return [round(float(v), 6) for v in p]

        out["predictions"] = [{"uid": u.uid, "speaker": u.speaker_key, "true": u.label,
                               "consensus": row(pred["consensus"][i]),
                               "models": {name: row(p[i]) for name, p in pred["models"].items()}}
                              for i, u in enumerate(utterances)]
    return out


# ------------------------------------------------------------------------------ report

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results" / "loco"


def load_results(directory: str | Path | None = None) -> list[dict]:
    """Stored left-out evaluations (``results/loco/*.json``), sorted by corpus."""
    import json

    d = Path(directory) if directory else RESULTS_DIR
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] if d.is_dir() else []


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_table(results: Sequence[dict]) -> str:
    """The leave-one-corpus-out table: per left-out corpus, consensus first, then each model."""
    head = ("| left-out corpus (classes, speakers, clips) | model | UA % [95 % CI, speakers] | "
            "macro-F1 % [95 % CI] | top-class share pred / true | most predicted |\n"
            "|---|---|---|---|---|---|")
    rows = [head]
    for r in results:
        c = r["consensus"]
        where = (f"{r['corpus']} ({len(c['classes_present'])} cl., {r['speakers']} spk., "
                 f"{r['utterances']} clips; chance {_pct(c['chance_ua'])})")
        if r.get("note"):  # which checkpoints: e.g. an earlier set, or a recipe's left-out fold
            where += f"; {r['note']}"
        for i, (name, s) in enumerate([("consensus", c), *sorted(r["models"].items())]):
            rows.append(f"| {where if i == 0 else ''} | {'**consensus**' if i == 0 else f'`{name}`'} | "
                        f"{_pct(s['ua'])} [{_pct(s['ua_ci95'][0])}, {_pct(s['ua_ci95'][1])}] | "
                        f"{_pct(s['macro_f1'])} [{_pct(s['macro_f1_ci95'][0])}, "
                        f"{_pct(s['macro_f1_ci95'][1])}] | {_pct(s['top_share_pred'])} / "
                        f"{_pct(s['top_share_true'])} | {s['top_class_pred']} |")
    return "\n".join(rows)


def confusion_text(result: dict, which: str = "consensus") -> str:
    """Row-normalised confusion matrix (%) of the consensus or one model, as text."""
    s = result["consensus"] if which == "consensus" else result["models"][which]
    labels, conf = s["labels"], np.asarray(s["confusion_counts"], dtype=float)
    width = max(len(x) for x in labels) + 2
    lines = [f"{which} on {result['corpus']} (rows: true, %)".ljust(width + 2) +
             "".join(x[:7].rjust(8) for x in labels)]
    for name, row in zip(labels, conf):
        if row.sum():
            lines.append(name.ljust(width + 2) + "".join(f"{100 * v / row.sum():8.1f}" for v in row))
    return "\n".join(lines)
