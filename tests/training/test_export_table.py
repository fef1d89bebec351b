"""The results table of ``python -m ser_core report``: what each row says about its data."""

from __future__ import annotations

import json
from pathlib import Path

from ser_core.training.export import markdown_table


def _checkpoint(root: Path, name: str, protocol: dict, corpora: list[str]) -> Path:
    d = root / name
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"")  # read_meta never opens the weights
    metrics = {"mean": {"ua": 0.433, "wa": 0.485, "macro_f1": 0.312},
               "std": {"ua": 0.0, "wa": 0.0, "macro_f1": 0.0}}
    (d / "config.json").write_text(json.dumps({
        "model": "glam", "num_classes": 7, "labels": ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"],
        "training_corpora": corpora, "protocol": protocol, "metrics": metrics,
        "weights_dtype": "float32"}))
    return d


def test_cross_corpus_rows_name_the_test_corpora(tmp_path):
    cc = _checkpoint(tmp_path, "glam-cc-emodb", {
        "name": "cross-corpus", "params": {"train_corpora": ["ravdess"], "test_corpora": ["emodb"]}},
        ["ravdess"])
    kfold = _checkpoint(tmp_path, "glam", {"name": "speaker-kfold", "params": {"folds": 5}},
                        ["ravdess", "emodb"])
    rows = markdown_table([cc, kfold]).splitlines()[2:]
    assert rows[0].startswith("| `glam-cc-emodb` | ravdess → emodb (7 cl.) | 43.3 ± 0.0 |")
    assert rows[1].startswith("| `glam` | ravdess+emodb (7 cl.) |")
