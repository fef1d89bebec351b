"""A trained checkpoint tested on whole corpora, and the shared evaluation of several models
on the same items."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from ser_core.checkpoint import CheckpointMeta, load_checkpoint
from ser_core.errors import ConfigError
from ser_core.training.datasets import Item, SegmentBank, as_items, load_waveforms
from ser_core.training.finetune import auto_labels
from ser_core.training.progress import Progress
from ser_core.training.protocols import CorpusArg, load_corpora, subsample
from ser_core.training.recipes import Recipe
from ser_core.training.rundir import RunDir
from ser_core.training.trainer import Trainer


def evaluate_items(models: Sequence[torch.nn.Module], meta: CheckpointMeta, items: list[Item],
                   device: torch.device):
    """Utterance posteriors (:class:`~ser_core.training.trainer.EvalResult`) of each of
    ``models`` (same architecture and input as the checkpoint ``meta``) on ``items``; the
    audio is decoded and featurized once for all of them."""
    spec, sr = meta.input_spec, meta.sample_rate
    waves = load_waveforms([it.path for it in items], sr)
    if (meta.extra.get("recipe") or {}).get("vad_trim"):  # trained on speech only: test on speech only
        from ser_core.vad import trim_waveforms

        waves = trim_waveforms(waves, sr)
    bank = SegmentBank(waves, [it.y for it in items], sr, spec.segment_s, spec.hop_s,
                       device=device)
    trainer = Trainer(model_name=meta.model, labels=meta.labels, recipe=Recipe(),
                      bank=bank, spec=spec, sample_rate=sr, device=device,
                      model_config=meta.model_config, progress=Progress(None, active=False),
                      feature_params=meta.feature.config)
    every = list(range(len(items)))
    return [trainer.evaluate(m, every, meta.normalization) for m in models]


def evaluate_checkpoint(checkpoint: str | Path, corpora: Sequence[CorpusArg], *,
                        labels: str | None = None, device: str | None = None,
                        max_speakers: int | None = None, max_utterances: int | None = None,
                        seed: int = 0, out: str | Path | None = None, quiet: bool = True,
                        argv: Sequence[str] | None = None) -> dict:
    """Test a checkpoint on whole corpora (every utterance its label set keeps)."""
    from ser_core.training.distributed import resolve_device
    from ser_core.training.metrics import classification_metrics

    dev = resolve_device(device)
    model, meta = load_checkpoint(checkpoint, device=dev)
    ck_labels = list(meta.labels)
    labels_name = labels or auto_labels(meta, corpora)
    utts, label_set, provenance = load_corpora(corpora, labels_name)
    unknown = sorted(set(label_set.classes) - set(ck_labels))
    if unknown:
        raise ConfigError(f"label set {label_set.id} has classes the checkpoint does not know: "
                          f"{', '.join(unknown)} (checkpoint labels: {', '.join(ck_labels)}).")
    utts = subsample(utts, max_speakers, max_utterances, seed)
    items = as_items(utts, ck_labels)
    t0 = time.time()
    res = evaluate_items([model], meta, items, dev)[0]
    seconds = time.time() - t0
    present = sorted({it.y for it in items})
    metrics = classification_metrics(res.y_true, res.y_pred, len(ck_labels), ck_labels)
    result = {"checkpoint": str(Path(checkpoint).resolve()), "model": meta.model,
              "corpora": [c.name for c in corpora], "label_set": label_set.id,
              "labels": ck_labels, "classes_present": [ck_labels[i] for i in present],
              "utterances": len(items), "metrics": metrics, "loss": res.loss,
              "seconds": round(seconds, 3), "device": str(dev)}
    if out is not None:
        run = RunDir(out)
        run.write_manifest(argv, {"checkpoint": result["checkpoint"], "labels": ck_labels,
                                  "label_set": label_set.to_dict(), "device": str(dev),
                                  "max_speakers": max_speakers, "max_utterances": max_utterances,
                                  "seed": seed}, provenance)
        run.add_predictions("all", items, list(range(len(items))), res.probs, ck_labels)
        run.write_predictions()
        run.write_results(result)
        run.finish("ok", results="results.json")
        result["out"] = str(run.path)
    return result
