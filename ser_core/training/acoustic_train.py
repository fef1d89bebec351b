"""Train, measure and save the ``acoustic_stats`` checkpoint (``python -m ser_core fit-acoustic``).

One call: the functionals of every utterance (cached), the speaker-independent 5-fold and
leave-one-corpus-out measurements of the chosen classifier, a temperature fitted on the
5-fold out-of-fold logits (speakers each fold never saw), the speaker-reference ("my voice")
head, and the final fit on every utterance, saved as a checkpoint whose metadata carries all
of it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_core.training.acoustic_fit import (fit_rows, out_of_fold, protocol_metrics,
                                            reference_offsets, top_share)
from ser_core.training.functional_data import FunctionalTable, functionals_of
from ser_core.training.metrics import METRIC_KEYS, classification_metrics, summarize_folds


def _kfold_metrics(table: FunctionalTable, logits: np.ndarray, fold_of: np.ndarray) -> dict:
    """The trainer's metrics layout (mean/std/folds/per_corpus) for 5-fold out-of-fold logits."""
    labels = list(table.classes)
    pred = logits.argmax(axis=1)
    names = sorted(set(fold_of.tolist()))
    folds = []
    for name in names:
        m = fold_of == name
        folds.append({"fold": name, **{k: v for k, v in classification_metrics(
            table.y[m], pred[m], len(labels), labels).items() if k in (*METRIC_KEYS, "n")}})
    summary = summarize_folds(folds)
    per_corpus = {}
    for c in sorted(set(table.corpora.tolist())):
        fm = [classification_metrics(table.y[(fold_of == n) & (table.corpora == c)],
                                     pred[(fold_of == n) & (table.corpora == c)], len(labels), labels)
              for n in names if ((fold_of == n) & (table.corpora == c)).any()]
        s = summarize_folds(fm)
        per_corpus[c] = {**{k: {"mean": s[k]["mean"], "std": s[k]["std"]} for k in METRIC_KEYS},
                         "folds": len(fm), "utterances": int((table.corpora == c).sum())}
    return {"mean": {k: summary[k]["mean"] for k in METRIC_KEYS},
            "std": {k: summary[k]["std"] for k in METRIC_KEYS},
            "folds": folds, "per_corpus": per_corpus}


def _spread(table: FunctionalTable, logits: np.ndarray, fold_of: np.ndarray) -> dict:
    pred = logits.argmax(axis=1)
    folds = [{"fold": n, "n": int((fold_of == n).sum()), **top_share(pred[fold_of == n], table.y[fold_of == n])}
             for n in sorted(set(fold_of.tolist()))]
    return {"definition": "share of a fold's test predictions in its most frequently predicted "
                          "class (top_share_pred) vs the same share of the true labels "
                          "(top_share_true); mean over folds",
            "top_share_pred": float(np.mean([f["top_share_pred"] for f in folds])),
            "top_share_true": float(np.mean([f["top_share_true"] for f in folds])), "folds": folds}


def measure(table: FunctionalTable, classifier: str, C: float, balance: str = "class") -> dict:
    """5-fold and LOCO metrics, the temperature, and the "my voice" comparison."""
    kf_logits, kf_folds = out_of_fold(table, "speaker-kfold", classifier, C, balance=balance)
    kfold = protocol_metrics(table, kf_logits, kf_folds)
    temperature = kfold["temperature"]
    lo_logits, lo_folds = out_of_fold(table, "loco", classifier, C, balance=balance)
    loco = protocol_metrics(table, lo_logits, lo_folds, temperature=temperature)
    offsets, ref_mask = reference_offsets(table)
    scored = ~ref_mask & ~np.isnan(offsets).any(axis=1)
    ref_logits, ref_folds = out_of_fold(table, "loco", classifier, C, reference=np.nan_to_num(offsets),
                                        scored=scored, balance=balance)
    plain = lo_logits.copy()
    plain[~scored] = np.nan
    return {"kfold_logits": kf_logits, "kfold_folds": kf_folds, "kfold": kfold, "loco": loco,
            "temperature": temperature,
            "reference": {"with": protocol_metrics(table, ref_logits, ref_folds),
                          "without": protocol_metrics(table, plain, lo_folds, temperature=temperature),
                          "reference_clips": int(ref_mask.sum()), "scored_clips": int(scored.sum())},
            "offsets": offsets, "scored": scored}


def _brief(m: dict) -> dict:
    keep = ("ua", "wa", "macro_f1", "n", "top_share_pred", "top_share_true")
    return {"mean_ua": m["ua"], "ece": m["ece"], "ece_calibrated": m["ece_calibrated"],
            "per_corpus": {c: {k: v[k] for k in keep if k in v} for c, v in m["per_corpus"].items()}}


def build_model(table: FunctionalTable, classifier: str, C: float, res: dict,
                balance: str = "class"):
    from ser_core.models import create_model

    model = create_model("acoustic_stats", len(table.classes), n_features=table.X.shape[1],
                         classifier=classifier, C=float(C), reference_head=True)
    head = fit_rows(table, np.ones(len(table.y), bool), classifier, C, balance)
    model.set_head(head.mean, head.scale, head.weight, head.bias)
    ok = res["scored"]
    ref = fit_rows(table, ok, classifier, C, balance, X=np.nan_to_num(table.X - res["offsets"]))
    model.set_head(ref.mean, ref.scale, ref.weight, ref.bias, reference=True)
    return model


def checkpoint_meta(data, roots: Sequence[str], table: FunctionalTable, classifier: str, C: float,
                    res: dict, model, argv: Sequence[str], balance: str = "class") -> dict:
    from ser_core.checkpoint import FeatureMeta
    from ser_core.training.manifest import corpus_provenance, versions
    from ser_core.training.rundir import now_iso

    kfold = _kfold_metrics(table, res["kfold_logits"], res["kfold_folds"])
    prov = [{k: v for k, v in corpus_provenance(name, root, len(l.utterances)).items() if k != "root"}
            for (name, root), l in zip(zip(data.corpora, roots), data.listings)]
    pooled = classification_metrics(table.y, res["kfold_logits"].argmax(1), len(table.classes),
                                    list(table.classes))
    spec = type(model).input_spec
    meta = {
        "model": model.name, "model_config": model.config_dict(), "num_classes": model.num_classes,
        "labels": list(table.classes), "label_set": data.label_set.id,
        "label_set_definition": data.label_set.to_dict(), "sample_rate": 16000,
        "input_spec": dataclasses.asdict(spec),
        "feature": dataclasses.asdict(FeatureMeta.resolved(spec.feature, spec.params)),
        "normalization": None, "corpora": prov, "training_corpora": list(data.corpora),
        "protocol": {"name": "speaker-kfold", "params": {"k": 5, "val_speakers": 0, "seed": 0},
                     "speaker_independent": True, "folds": 5,
                     "shipped_weights": "fitted on every utterance of the training corpora after "
                                        "the 5-fold and leave-one-corpus-out measurements",
                     "speakers": {"train": sorted(set(table.speakers.tolist())), "val": [], "test": []}},
        "recipe": {"fit": "scikit-learn", "classifier": classifier, "C": float(C),
                   "class_weight": "balanced" if balance == "class" else "per clip: "
                   "1 / (clips of its corpus and class x corpora with the class)",
                   "balance": balance,
                   "standardise": "training-set mean and deviation"},
        "metrics": {**kfold, "leave_one_corpus_out": _brief(res["loco"])},
        "confusion_matrix": {"labels": list(table.classes), "test": pooled["confusion"]},
        "prediction_spread": _spread(table, res["kfold_logits"], res["kfold_folds"]),
        "temperature": res["temperature"],
        "calibration": {"fitted_on": "out-of-fold logits of speaker-independent 5-fold (held-out speakers)",
                        "temperature": res["temperature"], "n_bins": 15,
                        "ece_kfold": res["kfold"]["ece"], "ece_kfold_calibrated": res["kfold"]["ece_calibrated"],
                        "ece_loco": res["loco"]["ece"], "ece_loco_calibrated": res["loco"]["ece_calibrated"]},
        "speaker_reference": {
            "method": "functionals minus the mean functionals of the speaker's neutral reference "
                      "clips (every other neutral clip by id; never scored), separate head",
            "loco_with_reference": _brief(res["reference"]["with"]),
            "loco_without_reference_same_clips": _brief(res["reference"]["without"]),
            "reference_clips": res["reference"]["reference_clips"],
            "scored_clips": res["reference"]["scored_clips"]},
        "precision": {"weights": "float32", "check": None},
        "versions": versions(), "created": now_iso(),
        "shipped": {"name": "acoustic_stats", "command": ["fit-acoustic", *argv]},
    }
    return meta


def train_acoustic_stats(corpora: Sequence[str], roots: Sequence[str], labels: str, classifier: str,
                         C: float, out: str | Path, argv: Sequence[str] = (), log=print,
                         balance: str = "class") -> dict:
    """Everything above, saved to ``out``; returns the metadata."""
    from ser_core.checkpoint import CheckpointMeta, save_checkpoint
    from ser_core.data import load_labeled

    data = load_labeled(list(corpora), [str(r) for r in roots], labels, check_audio=False)
    log(f"{len(data.utterances)} utterances, {len(data.classes)} classes; functionals (cached)...")
    table = functionals_of(data.utterances, data.classes)
    res = measure(table, classifier, C, balance)
    model = build_model(table, classifier, C, res, balance)
    meta = checkpoint_meta(data, roots, table, classifier, C, res, model, argv, balance)
    save_checkpoint(out, model, CheckpointMeta.from_dict(meta))
    return meta
