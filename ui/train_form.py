"""The Train page's form as data: widget values → the job's parameters
(:class:`~ser_core.jobs.params.JobParams`, checked by the jobs service when the job is
submitted), and the progress records of a job → curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser_core.jobs.params import JobParams

#: The shipped checkpoints' band limit (README, "Checkpoints").
LOWPASS_HZ = 5500.0

JOB_TYPES = {
    "Cross-validation": "cv",
    "Cross-corpus (train A, test B)": "train",
    "Fine-tune a checkpoint": "finetune",
}


@dataclass
class TrainRequest:
    job_type: str                       # a key of JOB_TYPES
    corpora: list[str]
    roots: list[str]
    labels: str = "ekman7"
    model: str = ""
    checkpoint: str = ""
    protocol: str = "speaker-kfold"
    folds: int = 5
    epochs: int | None = None
    max_speakers: int | None = None
    device: str = "auto"
    unfreeze_last: int | None = None      # fine-tuning: the last k layer groups
    new_head: bool = False
    test_corpora: list[str] = field(default_factory=list)
    # the input path and augmentation (defaults: the shipped checkpoints' input path)
    vad_trim: bool = True                 # speech only, as predict and the app cut a clip
    lowpass: bool = True                  # band-limit to LOWPASS_HZ (not for fine-tuning:
    gain_normalize: bool = True           # a checkpoint keeps its own feature settings)
    center_time: bool = False
    augment_room: bool = False
    spec_mask: float = 0.0
    balance_corpora: bool = False         # --balance corpus_sampler

    def kind(self) -> str:
        return JOB_TYPES[self.job_type]

    def job(self) -> JobParams:
        """The job this form describes."""
        finetune = self.kind() == "finetune"
        protocol = "cross-corpus" if self.job_type.startswith("Cross-corpus") else self.protocol
        return JobParams(
            kind=self.kind(), model=None if finetune else self.model,
            checkpoint=self.checkpoint if finetune else None, corpora=tuple(self.corpora),
            roots=tuple(self.roots), labels=self.labels or None, protocol=protocol,
            test_corpora=tuple(self.test_corpora) if protocol == "cross-corpus" else (),
            folds=int(self.folds) if protocol in ("speaker-kfold", "speaker-dependent-random")
            and self.folds else None,
            epochs=int(self.epochs) if self.epochs else None,
            max_speakers=int(self.max_speakers) if self.max_speakers else None,
            device=None if self.device == "auto" else self.device,
            unfreeze_last=int(self.unfreeze_last) if finetune and self.unfreeze_last else None,
            new_head=finetune and self.new_head, options=self.input_options())

    def input_options(self) -> tuple[str, ...]:
        """The command's options for the input path and augmentation. Feature settings are
        for new models only: a fine-tuned checkpoint keeps the features it was trained on."""
        opts: list[str] = []
        if self.vad_trim:
            opts.append("--vad-trim")
        if self.augment_room:
            opts += ["--augment", "room"]
        if self.spec_mask:
            opts += ["--set", f"spec_mask={float(self.spec_mask):g}"]
        if self.balance_corpora:
            opts += ["--balance", "corpus_sampler"]
        if self.kind() != "finetune":
            for on, setting in ((self.lowpass, f"lowpass_hz={LOWPASS_HZ:g}"),
                                (self.gain_normalize, "gain_normalize=true"),
                                (self.center_time, "center_time=true")):
                if on:
                    opts += ["--feature-set", setting]
        return tuple(opts)


def default_root(data_root: str, corpus: str) -> str:
    if not data_root:
        return ""
    p = Path(data_root) / corpus
    return str(p) if p.is_dir() else ""


def curves(records: list[dict[str, Any]]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """``{"loss": {series: (x, y)}, "ua": {...}, "steps": {...}}`` from progress records:
    per-epoch training/validation loss and validation UA (``epoch_end``), and the running
    training loss within epochs (``step``, x = epoch - 1 + step / steps), one series per fold."""
    loss: dict[str, tuple[list[float], list[float]]] = {}
    ua: dict[str, tuple[list[float], list[float]]] = {}
    steps: dict[str, tuple[list[float], list[float]]] = {}
    for r in records:
        if r.get("event") == "step" and r.get("loss") is not None and r.get("steps"):
            x = float(r.get("epoch", 1)) - 1 + float(r.get("step", 0)) / float(r["steps"])
            series = steps.setdefault(f"fold {r.get('fold', 0)}", ([], []))
            series[0].append(x)
            series[1].append(float(r["loss"]))
        if r.get("event") != "epoch_end":
            continue
        fold = r.get("fold", 0)
        x = float(r.get("epoch", 0))
        tag = f"fold {fold}"
        if r.get("train_loss") is not None:
            loss.setdefault(f"train {tag}", ([], []))
            loss[f"train {tag}"][0].append(x)
            loss[f"train {tag}"][1].append(float(r["train_loss"]))
        val = r.get("val") or {}
        if val.get("loss") is not None:
            loss.setdefault(f"val {tag}", ([], []))
            loss[f"val {tag}"][0].append(x)
            loss[f"val {tag}"][1].append(float(val["loss"]))
        if val.get("ua") is not None:
            ua.setdefault(f"val UA {tag}", ([], []))
            ua[f"val UA {tag}"][0].append(x)
            ua[f"val UA {tag}"][1].append(100 * float(val["ua"]))
    return {"loss": loss, "ua": ua, "steps": steps}


def fold_results(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per finished fold (``fold_end`` records): test WA/UA/F1 in percent."""
    rows = []
    for r in records:
        if r.get("event") == "fold_end":
            t = r.get("test") or {}
            rows.append({"fold": r.get("fold"), "best epoch": r.get("best_epoch"),
                         **{k.upper(): None if t.get(k) is None else round(100 * float(t[k]), 2)
                            for k in ("wa", "ua", "weighted_f1", "macro_f1")}})
    return rows
