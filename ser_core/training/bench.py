"""Training throughput: utterances per second and seconds per epoch, per model and device.

For each model the trainer runs a few epochs (the model's own recipe: batch size, optimiser,
augmentation) over ``n`` utterances — real ones from a corpus, or synthetic 3.5 s clips (about
a RAVDESS clip) — with no validation. Reported per model and device:

* ``utt_per_s`` / ``seg_per_s``: training utterances (segments) per second in the steady
  epochs (epoch 1, which also builds the run's feature cache, is reported apart as
  ``first_epoch_s``); ``epoch_s``: seconds per steady epoch for those ``n`` utterances;
* ``cv3_est_min``: the projected time of a 5-fold speaker-independent CV on RAVDESS + Emo-DB +
  EMOVO (2,563 utterances; about 72 % of them train per fold) at the recipe's epoch budget,
  i.e. ``5 x epochs x 0.72 x 2563 / utt_per_s`` plus evaluation (an upper bound: early stopping
  usually ends folds sooner);
* on CUDA, ``gpu_util``: mean GPU utilisation sampled every 0.1 s during the steady epochs
  (NVML through ``pynvml`` when installed, else ``nvidia-smi``), and ``peak_mem_gb``.

Not a test: a measurement (``python -m ser_core bench-train``).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Sequence

import torch

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.models import model_class
from ser_core.training.datasets import SegmentBank
from ser_core.training.progress import Progress
from ser_core.training.recipes import recipe_for
from ser_core.training.trainer import Trainer

CV3_UTTERANCES = 1440 + 535 + 588
CV3_TRAIN_FRACTION = 0.72  # 4/5 of the speakers, minus one validation speaker
CV3_FOLDS = 5


def synthetic_clips(n: int, seconds: float = 3.5, classes: int = 4, seed: int = 0,
                    sample_rate: int = DEFAULT_SAMPLE_RATE) -> tuple[list[torch.Tensor], list[int]]:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    waves, labels = [], []
    for i in range(n):
        y = i % classes
        f0 = 120.0 + 40.0 * y + 10.0 * float(torch.rand(1, generator=g))
        x = sum(0.2 / k * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 5))
        waves.append((x + 0.01 * torch.randn(t.shape, generator=g)).float())
        labels.append(y)
    return waves, labels


class GpuSampler:
    """Samples GPU utilisation (percent) in a background thread."""

    def __init__(self, device: torch.device, interval: float = 0.1) -> None:
        self.device, self.interval = device, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader()

    def _reader(self):
        index = self.device.index or 0
        try:
            import pynvml  # type: ignore

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            pass
        if shutil.which("nvidia-smi"):
            def smi() -> float | None:
                out = subprocess.run(["nvidia-smi", "-i", str(index), "--query-gpu=utilization.gpu",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=5)
                try:
                    return float(out.stdout.strip().splitlines()[0])
                except (ValueError, IndexError):
                    return None
            return smi
        return None

    def __enter__(self) -> "GpuSampler":
        if self._read is not None:
            def loop() -> None:
                while not self._stop.is_set():
                    v = self._read()
                    if v is not None:
                        self.samples.append(v)
                    self._stop.wait(self.interval)
            self._thread = threading.Thread(target=loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


@dataclass
class BenchRow:
    model: str
    device: str
    utterances: int
    segments: int
    batch_size: int
    epochs: int
    first_epoch_s: float
    epoch_s: float
    utt_per_s: float
    seg_per_s: float
    cv3_est_min: float
    recipe_epochs: int
    gpu_util: float | None = None
    peak_mem_gb: float | None = None
    params: int = 0
    error: str | None = None


def bench_model(name: str, device: torch.device, waves: Sequence[torch.Tensor],
                labels: Sequence[int], epochs: int = 3, batch_size: int | None = None,
                model_config: dict | None = None, amp: bool = True) -> BenchRow:
    spec = model_class(name).input_spec
    recipe = recipe_for(name, epochs=epochs, patience=0, batch_size=batch_size)
    n_classes = max(labels) + 1
    bank = SegmentBank(waves, labels, DEFAULT_SAMPLE_RATE, spec.segment_s, spec.hop_s,
                       device=device)
    trainer = Trainer(model_name=name, labels=[str(i) for i in range(n_classes)], recipe=recipe,
                      bank=bank, spec=spec, sample_rate=DEFAULT_SAMPLE_RATE, device=device,
                      model_config=model_config, amp=amp, progress=Progress(None, active=False))
    utts = list(range(len(waves)))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    sampler = GpuSampler(device) if device.type == "cuda" else None
    if sampler is not None:
        with sampler:
            fit = trainer.fit(0, utts, [])
    else:
        fit = trainer.fit(0, utts, [])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    times = [h["train_s"] for h in fit.history]
    steady = times[1:] or times
    epoch_s = sum(steady) / len(steady)
    n_seg = fit.train_segments
    ups = len(utts) / epoch_s
    eval_s = CV3_FOLDS * (CV3_UTTERANCES * 0.28) / (3 * ups) * recipe_for(name).epochs
    cv3 = (CV3_FOLDS * recipe_for(name).epochs * CV3_TRAIN_FRACTION * CV3_UTTERANCES / ups
           + eval_s) / 60
    row = BenchRow(model=name, device=str(device), utterances=len(utts), segments=n_seg,
                   batch_size=recipe.batch_size, epochs=len(times), first_epoch_s=times[0],
                   epoch_s=epoch_s, utt_per_s=ups, seg_per_s=n_seg / epoch_s,
                   cv3_est_min=cv3, recipe_epochs=recipe_for(name).epochs,
                   params=sum(p.numel() for p in fit.model.parameters()))
    if device.type == "cuda":
        row.peak_mem_gb = torch.cuda.max_memory_allocated(device) / 2**30
        row.gpu_util = sampler.mean if sampler is not None else None
    return row


def format_table(rows: Sequence[BenchRow]) -> str:
    head = (f"{'model':<26}{'device':<8}{'utts':>6}{'segs':>6}{'batch':>6}{'utt/s':>9}"
            f"{'seg/s':>9}{'s/epoch':>9}{'1st ep s':>9}{'CV3 est':>10}{'GPU %':>7}{'mem GB':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.error:
            lines.append(f"{r.model:<26}{r.device:<8}  error: {r.error}")
            continue
        gpu = f"{r.gpu_util:7.0f}" if r.gpu_util is not None else f"{'-':>7}"
        mem = f"{r.peak_mem_gb:8.2f}" if r.peak_mem_gb is not None else f"{'-':>8}"
        est = r.cv3_est_min
        est_s = f"{est:8.1f} m" if est < 600 else f"{est / 60:8.1f} h"
        lines.append(f"{r.model:<26}{r.device:<8}{r.utterances:>6}{r.segments:>6}{r.batch_size:>6}"
                     f"{r.utt_per_s:9.2f}{r.seg_per_s:9.2f}{r.epoch_s:9.2f}{r.first_epoch_s:9.2f}"
                     f"{est_s:>10}{gpu}{mem}")
    return "\n".join(lines)
