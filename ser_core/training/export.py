"""From a finished training run to a shipped checkpoint, and the numbers that describe it.

``python -m ser_core ship RUN_DIR --name NAME`` (:func:`ship_run`) takes the best fold's
checkpoint of a cross-validation run (``RUN_DIR/checkpoint``), adds what the run's
per-utterance test predictions say, and writes ``checkpoints/NAME/``:

* ``metrics.per_corpus``: WA/UA/F1 of each corpus' test utterances, mean ± std over the same
  speaker-independent folds (every utterance was predicted by the fold model that never heard
  its speaker);
* ``prediction_spread``: per fold, the share of test predictions that fall in the most
  frequently predicted class, next to the same share for the true labels — the measured form
  of "it always says the same emotion" (a model that spreads its answers like the truth has
  ``top_share_pred`` close to ``top_share_true``);
* ``precision``: the weights are stored as float16 only when that costs nothing measurable —
  the best fold's checkpoint is evaluated on its own test speakers with float32 and with
  float16-rounded weights, and float16 is kept when the predictions agree on at least
  :data:`AGREEMENT_MIN` of the utterances and UA moves by at most :data:`UA_DELTA_MAX`.

:func:`ensemble_cv` scores an ensemble (mean of the models' posteriors) from several runs'
predictions on the same split, and :func:`markdown_table` prints the README's results table
from shipped checkpoints' metadata, so every number there comes from a file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ser_core.checkpoint import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from ser_core.errors import ConfigError
from ser_core.training.metrics import (METRIC_KEYS, METRIC_NAMES, classification_metrics,
                                       summarize_folds)

AGREEMENT_MIN = 0.99
UA_DELTA_MAX = 0.005


# -- predictions of a run ------------------------------------------------------------------

def read_predictions(run_dir: str | Path) -> tuple[list[str], list[dict]]:
    """``(labels, rows)`` of ``RUN_DIR/predictions.csv``; each row has ``fold``, ``uid``,
    ``corpus``, ``speaker``, ``true``, ``pred`` and ``probs`` (a float array in label order)."""
    path = Path(run_dir) / "predictions.csv"
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no predictions.csv: is it a finished training run?")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        labels = [c[2:] for c in reader.fieldnames or [] if c.startswith("p_")]
        rows = []
        for r in reader:
            rows.append({"fold": r["fold"], "uid": r["uid"], "corpus": r["corpus"],
                         "speaker": r["speaker"], "true": r["true"], "pred": r["pred"],
                         "probs": np.array([float(r["p_" + c]) for c in labels])})
    return labels, rows


def _metrics(rows: Sequence[dict], labels: Sequence[str]) -> dict:
    index = {c: i for i, c in enumerate(labels)}
    y_true = [index[r["true"]] for r in rows]
    y_pred = [int(np.argmax(r["probs"])) for r in rows]
    return classification_metrics(y_true, y_pred, len(labels), list(labels))


def _brief(summary: dict) -> dict:
    """``{"ua": {"mean", "std"}, ...}`` of a :func:`summarize_folds` result."""
    return {k: {"mean": summary[k]["mean"], "std": summary[k]["std"]}
            for k in METRIC_KEYS if isinstance(summary.get(k), dict)}


def _by_fold(rows: Iterable[dict]) -> dict[str, list[dict]]:
    folds: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        folds[r["fold"]].append(r)
    return dict(sorted(folds.items()))


def spread(rows: Sequence[dict]) -> dict:
    """How concentrated one test set's predictions (``pred_label``) are, next to the truth's."""
    pred = Counter(r["pred_label"] for r in rows)
    true = Counter(r["true"] for r in rows)
    n = max(1, len(rows))
    top_pred, c_pred = pred.most_common(1)[0] if pred else ("", 0)
    top_true, c_true = true.most_common(1)[0] if true else ("", 0)
    return {"n": len(rows), "top_pred": top_pred, "top_share_pred": c_pred / n,
            "top_true": top_true, "top_share_true": c_true / n}


def cv_breakdown(labels: Sequence[str], rows: Sequence[dict]) -> dict:
    """Per-corpus metrics (mean ± std over folds) and the prediction spread of CV predictions.

    Returns ``{"pooled": {...}, "per_corpus": {corpus: {...}}, "prediction_spread":
    {"folds": [...], "top_share_pred": mean, "top_share_true": mean}}``; a corpus absent from a
    fold's test speakers is left out of that fold.
    """
    rows = [{**r, "pred_label": labels[int(np.argmax(r["probs"]))]} for r in rows]
    folds = _by_fold(rows)
    pooled = summarize_folds([_metrics(fr, labels) for fr in folds.values()])
    corpora = sorted({r["corpus"] for r in rows})
    per_corpus = {}
    for c in corpora:
        fold_m = [_metrics([r for r in fr if r["corpus"] == c], labels)
                  for fr in folds.values() if any(r["corpus"] == c for r in fr)]
        per_corpus[c] = {**_brief(summarize_folds(fold_m)), "folds": len(fold_m),
                         "utterances": sum(1 for r in rows if r["corpus"] == c)}
    fold_spread = [{"fold": name, **spread(fr)} for name, fr in folds.items()]
    return {"pooled": {**_brief(pooled), "folds": len(folds), "utterances": len(rows)},
            "per_corpus": per_corpus,
            "prediction_spread": {
                "definition": "share of a fold's test predictions in its most frequently "
                              "predicted class (top_share_pred) vs the same share of the true "
                              "labels (top_share_true); mean over folds",
                "top_share_pred": float(np.mean([f["top_share_pred"] for f in fold_spread])),
                "top_share_true": float(np.mean([f["top_share_true"] for f in fold_spread])),
                "folds": fold_spread}}


# -- ensembles -------------------------------------------------------------------------------

def ensemble_cv(run_dirs: Sequence[str | Path]) -> dict:
    """Score the mean posterior of several runs on the same speaker-independent split.

    Every run must have the same labels and the same split fingerprint (so each utterance's
    posteriors all come from models that never heard its speaker). Returns
    :func:`cv_breakdown` of the averaged posteriors plus ``members``.
    """
    if len(run_dirs) < 2:
        raise ConfigError("an ensemble needs at least two runs.")
    labels0, fingerprint, joined, members = None, None, None, []
    for d in run_dirs:
        labels, rows = read_predictions(d)
        fp = json.loads((Path(d) / "splits.json").read_text()).get("fingerprint")
        if labels0 is None:
            labels0, fingerprint = labels, fp
            joined = {(r["fold"], r["uid"]): {**r, "probs": r["probs"].copy()} for r in rows}
        else:
            if labels != labels0 or fp != fingerprint:
                raise ConfigError(f"{d} was not trained on the same labels and split as "
                                  f"{run_dirs[0]}: an ensemble of them would not be "
                                  "speaker-independent.")
            keys = {(r["fold"], r["uid"]) for r in rows}
            if keys != set(joined):
                raise ConfigError(f"{d} did not predict the same test utterances as "
                                  f"{run_dirs[0]} (were all folds run?).")
            for r in rows:
                joined[(r["fold"], r["uid"])]["probs"] += r["probs"]
        members.append(str(d))
    rows = [{**r, "probs": r["probs"] / len(run_dirs)} for r in joined.values()]
    return {"members": members, "labels": labels0, "split_fingerprint": fingerprint,
            **cv_breakdown(labels0, rows)}


def with_breakdown(meta: CheckpointMeta, labels: Sequence[str],
                   rows: Sequence[dict]) -> CheckpointMeta:
    """``meta`` plus ``metrics.per_corpus`` and ``prediction_spread`` from a run's predictions."""
    breakdown = cv_breakdown(labels, rows)
    return dataclasses.replace(
        meta, metrics={**meta.metrics, "per_corpus": breakdown["per_corpus"]},
        extra={**meta.extra, "prediction_spread": breakdown["prediction_spread"]})


# -- half precision -------------------------------------------------------------------------

def fold_test_items(meta: CheckpointMeta, test_speakers: Sequence[str], data_roots: dict | None = None):
    """The utterances of ``test_speakers`` (``corpus:speaker``, as in results.json) that the
    checkpoint's label set keeps, as training items (a fold's test set is every such utterance
    of its test speakers). Corpus folders: ``data_roots[name]``, else the root recorded in
    ``meta``, else :func:`~ser_core.data.registry.default_data_root`/name."""
    from ser_core.data.registry import default_data_root
    from ser_core.training.datasets import as_items
    from ser_core.training.protocols import CorpusArg, load_corpora

    default = default_data_root() or Path("../shared/data")
    corpora = []
    for c in meta.corpora:
        root = (data_roots or {}).get(c["name"]) or c.get("root")
        if not root or not Path(root).is_dir():
            root = str(default / c["name"])
        corpora.append(CorpusArg(c["name"], root))
    utts, _, _ = load_corpora(corpora, str(meta.label_set).split("@")[0])
    wanted = set(test_speakers)
    return as_items([u for u in utts if f"{u.corpus}:{u.speaker}" in wanted], meta.labels)


def precision_check(checkpoint: str | Path, test_speakers: Sequence[str],
                    data_roots: dict | None = None) -> dict:
    """Evaluate the checkpoint on its fold's test speakers with float32 weights and with
    float16-rounded weights; ``float16_ok`` when the two agree (see module doc)."""
    from ser_core.training.evaluation import evaluate_items

    model32, meta = load_checkpoint(checkpoint)
    model16, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        for p in list(model16.parameters()) + list(model16.buffers()):
            if p.is_floating_point():
                p.copy_(p.half().float())
    items = fold_test_items(meta, test_speakers, data_roots)
    if not items:
        raise ConfigError("no utterance of the fold's test speakers found under the corpus "
                          "roots (give --data-root).")
    t0 = time.time()
    r32, r16 = evaluate_items([model32, model16], meta, items, torch.device("cpu"))
    agree = float(np.mean(r32.y_pred == r16.y_pred))
    d_ua = float(r16.metrics["ua"] - r32.metrics["ua"])
    return {"utterances": len(items), "ua_float32": r32.metrics["ua"],
            "ua_float16": r16.metrics["ua"], "agreement": agree,
            "max_abs_prob_diff": float(np.abs(r32.probs - r16.probs).max()),
            "float16_ok": bool(agree >= AGREEMENT_MIN and abs(d_ua) <= UA_DELTA_MAX),
            "rule": f"float16 when agreement >= {AGREEMENT_MIN} and |dUA| <= {UA_DELTA_MAX}",
            "seconds": round(time.time() - t0, 2)}


# -- ship -----------------------------------------------------------------------------------

def ship_run(run_dir: str | Path, name: str, dest: str | Path = "checkpoints", *,
             precision: str = "auto", data_roots: dict | None = None,
             note: str | None = None) -> Path:
    """Write ``dest/name`` from ``run_dir``'s best-fold checkpoint with the CV breakdown
    (module doc). ``precision``: ``auto`` (measured), ``float16`` or ``float32``."""
    run_dir = Path(run_dir)
    src = run_dir / "checkpoint"
    meta = read_meta(src)
    results = json.loads((run_dir / "results.json").read_text())
    labels, rows = read_predictions(run_dir)
    if labels != meta.labels:
        raise ConfigError(f"{run_dir}: predictions.csv and the checkpoint disagree on labels.")
    fold = meta.protocol.get("fold") or results.get("checkpoint_fold")
    record = next((f for f in results.get("folds", []) if f["fold"] == fold), None)
    if record is None:
        raise ConfigError(f"{run_dir}/results.json has no fold {fold!r}.")
    speakers = record["speakers"]
    check = None
    if precision == "auto":
        check = precision_check(src, speakers["test"], data_roots)
        half = check["float16_ok"]
    elif precision in ("float16", "float32"):
        half = precision == "float16"
    else:
        raise ConfigError("precision must be auto, float16 or float32.")
    model, _ = load_checkpoint(src)
    meta = with_breakdown(meta, labels, rows)
    meta.protocol = {**meta.protocol, "speakers": speakers}
    meta.extra["precision"] = {"weights": "float16" if half else "float32", "check": check}
    run_json = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    meta.extra["shipped"] = {"name": name, "from_run": run_dir.name, "command": run_json.get("argv")
                             or run_json.get("command"), "train_seconds": sum(
                                 f.get("train_seconds", 0) for f in results.get("folds", [])),
                             "note": note}
    meta.extra.pop("run_dir", None)
    for c in meta.corpora:
        c.pop("root", None)  # a path on the training machine; the loader finds corpora itself
    return save_checkpoint(Path(dest) / name, model, meta, half=half)


# -- re-measuring a shipped checkpoint -------------------------------------------------------

def remeasure_test(directory: str | Path, why: str, source: str | Path | None = None,
                   data_roots: dict | None = None) -> dict:
    """Re-evaluate a shipped checkpoint on its fold's test speakers with today's input path
    (e.g. after the voice activity detector changed, which moves a ``vad_trim`` model's cuts)
    and rewrite what its config.json says about them: ``metrics.test`` (and the one fold's
    ``folds``/``mean``/``std``), ``metrics.per_corpus``, the test confusion matrix, the
    prediction spread and the precision check (from ``source``, the run's float32 checkpoint,
    when given; else both precisions are the shipped weights). The weights are not touched;
    ``remeasured`` records why, when, and the test UA before. Returns that record."""
    from ser_core.checkpoint import CONFIG
    from ser_core.data.atomic import atomic_write_bytes
    from ser_core.training.evaluation import evaluate_items

    directory = Path(directory)
    model, meta = load_checkpoint(directory)
    test = meta.protocol["speakers"]["test"]
    if len(meta.metrics.get("folds") or []) > 1 or not test:
        raise ConfigError(f"{directory}: only a one-fold checkpoint with test speakers can be re-measured.")
    items = fold_test_items(meta, test, data_roots)
    if not items:
        raise ConfigError(f"{directory}: no utterance of its test speakers found (give the corpus roots).")
    res = evaluate_items([model], meta, items, torch.device("cpu"))[0]
    labels = list(meta.labels)
    rows = [{"fold": meta.metrics["folds"][0]["fold"], "uid": it.uid, "corpus": it.corpus,
             "speaker": it.speaker, "true": labels[it.y], "probs": np.asarray(p)}
            for it, p in zip(items, res.probs)]
    full = classification_metrics(res.y_true, res.y_pred, len(labels), labels)
    brief = {k: full[k] for k in (*METRIC_KEYS, "n")}
    breakdown = cv_breakdown(labels, rows)
    check = precision_check(source, test, data_roots) if source else {
        "utterances": len(items), "ua_float32": full["ua"], "ua_float16": full["ua"],
        "note": "the shipped weights (the float32 run was not given)"}
    raw = json.loads((directory / CONFIG).read_text())
    record = {"why": why, "date": time.strftime("%Y-%m-%d"), "utterances": len(items),
              "test_ua_before": raw["metrics"]["test"]["ua"], "test_ua_after": full["ua"]}
    raw["metrics"].update({"test": brief, "folds": [{"fold": rows[0]["fold"], **brief}],
                           "mean": {k: full[k] for k in METRIC_KEYS},
                           "std": {k: 0.0 for k in METRIC_KEYS},
                           "per_corpus": breakdown["per_corpus"]})
    raw["confusion_matrix"] = {**raw.get("confusion_matrix", {}), "labels": labels,
                               "test": full["confusion"], "mean_over_folds": full["confusion"]}
    raw["prediction_spread"] = breakdown["prediction_spread"]
    raw["precision"] = {**raw["precision"], "check": {**(raw["precision"].get("check") or {}), **check}}
    raw["remeasured"] = record
    atomic_write_bytes(directory / CONFIG, json.dumps(raw, indent=2).encode())
    (directory / CONFIG).chmod(0o644)
    return record


# -- README table ---------------------------------------------------------------------------

def mean_std_text(d: dict | None, key: str, one_fold: bool = False) -> str:
    """``mean ± std`` in percent; just the value for a one-fold protocol (``final``)."""
    v = (d or {}).get(key)
    if not isinstance(v, dict) or v.get("mean") is None or math.isnan(v["mean"]):
        return "—"
    return f"{100 * v['mean']:.1f}" if one_fold else f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def table_meta(directory: str | Path) -> CheckpointMeta:
    """A shipped checkpoint's metadata, or, for a training run's folder, its best-fold
    checkpoint's metadata completed as :func:`ship_run` would (per-corpus metrics and the
    prediction spread from the run's predictions; weights as trained)."""
    d = Path(directory)
    if (d / "checkpoint" / "config.json").is_file() and (d / "predictions.csv").is_file():
        return with_breakdown(read_meta(d / "checkpoint"), *read_predictions(d))
    return read_meta(d)


def markdown_table(dirs: Sequence[str | Path]) -> str:
    """One row per checkpoint (or training run folder) and scope (pooled, then each corpus):
    UA / WA / MF1 over folds, the prediction spread, the weights' precision."""
    lines = ["| model | data (classes) | UA % | WA % | macro-F1 % | top-class share pred / true |"
             " weights |", "|---|---|---|---|---|---|---|"]
    for d in dirs:
        meta = table_meta(d)
        m = meta.metrics
        pooled = {k: {"mean": m["mean"][k], "std": m["std"][k]} for k in METRIC_KEYS
                  if k in (m.get("mean") or {})}
        sp = meta.extra.get("prediction_spread") or {}
        share = (f"{100 * sp['top_share_pred']:.0f} / {100 * sp['top_share_true']:.0f}"
                 if "top_share_pred" in sp else "—")
        name = Path(d).name
        weights = (meta.extra.get("precision") or {}).get("weights", meta.weights_dtype)
        scope = "+".join(meta.training_corpora)
        tested = (meta.protocol.get("params") or {}).get("test_corpora")
        if tested:  # cross-corpus: trained on one set of corpora, tested on others
            scope += " → " + "+".join(tested)
        scope += f" ({meta.num_classes} cl.)"
        one = meta.protocol.get("name") == "final"
        if one:  # the shipped fit: a sanity check on its few held-back speakers, not a CV mean
            held = (meta.protocol.get("speakers") or {}).get("test") or []
            scope += f", final fit, {len(held)} held-back test speakers"
        lines.append(f"| `{name}` | {scope} | {mean_std_text(pooled, 'ua', one)} | "
                     f"{mean_std_text(pooled, 'wa', one)} | {mean_std_text(pooled, 'macro_f1', one)} | "
                     f"{share} | {weights} |")
        per = m.get("per_corpus") or {}
        if len(per) > 1:
            for c, v in per.items():
                lines.append(f"| | {c} | {mean_std_text(v, 'ua', one)} | {mean_std_text(v, 'wa', one)} | "
                             f"{mean_std_text(v, 'macro_f1', one)} | | |")
    return "\n".join(lines)
