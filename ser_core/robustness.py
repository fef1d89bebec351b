"""Does a model answer the same for two versions of one utterance that differ only in how it
was recorded: its bandwidth, or its level?

The corpora the shipped models learnt from are band-limited (RAVDESS and Emo-DB here were
resampled to 11 025 Hz: nothing above ~5.5 kHz), while a browser microphone or EMOVO's 48 kHz
recordings reach 8 kHz at the models' 16 kHz rate; and their levels differ sixfold, as
microphones' gains do. The shipped checkpoints therefore low-pass every input at 5.5 kHz and
normalise each segment's level before their features (``lowpass_hz`` and ``gain_normalize``
in the checkpoint's feature config).

:func:`compare_copies` measures what that buys: each clip is predicted as it is and as a
transformed copy — :func:`band_limited_copy` (a trip through 11 025 Hz, exactly what the
corpora went through) or :func:`gain_copy` — and the two posteriors are compared
(total-variation distance, top-class agreement). With ``switch_off`` the same models run
without one safeguard at inference, to show what it does.

Used by ``tests/test_shipped_checkpoints.py`` and ``scripts/measure_robustness.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import torch

from ser_core.audio import Audio, resample
from ser_core.inference import InferenceService, InstalledModel

CORPUS_RATE = 11025  # the rate RAVDESS and Emo-DB copies in ../shared/data were resampled to


def band_limited_copy(audio: Audio, via_rate: int = CORPUS_RATE) -> Audio:
    """``audio`` resampled down to ``via_rate`` and back (torchaudio's windowed sinc): the
    same utterance without anything above ``via_rate / 2``."""
    x = audio.waveform.float()
    y = resample(resample(x, audio.sample_rate, via_rate), via_rate, audio.sample_rate)
    y = torch.nn.functional.pad(y[: x.shape[-1]], (0, max(0, x.shape[-1] - y.shape[-1])))
    return dataclasses.replace(audio, waveform=y, name=f"{audio.name} (band-limited)")


def gain_copy(audio: Audio, db: float = -20.0) -> Audio:
    """``audio`` scaled by ``db`` decibels (a quieter or louder recording of the same take)."""
    return dataclasses.replace(audio, waveform=audio.waveform.float() * 10 ** (db / 20),
                               name=f"{audio.name} ({db:+g} dB)")


SAFEGUARD = {"band": ("lowpass_hz", None), "gain": ("gain_normalize", False)}


def without(entry: InstalledModel, safeguard: str) -> InstalledModel:
    """The same loaded model with one safeguard (``"band"``: the low-pass, ``"gain"``: the
    level normalisation) switched off at inference, to show what it does."""
    field, off = SAFEGUARD[safeguard]
    feature = dataclasses.replace(entry.meta.feature, config={**entry.meta.feature.config, field: off})
    return dataclasses.replace(entry, meta=dataclasses.replace(entry.meta, feature=feature))


def compare_copies(service: InferenceService, clips: Sequence[Audio],
                   transform: Callable[[Audio], Audio] = band_limited_copy,
                   names: Sequence[str] | None = None, switch_off: str | None = None) -> dict:
    """Per model: ``{"n", "tv_mean", "tv_max", "agreement"}`` over ``clips``, where tv is the
    total-variation distance ``0.5 * sum |p(clip) - p(transform(clip))|`` of the posteriors
    and agreement the share of clips whose top class is the same. ``switch_off``: run the
    models without that safeguard (:func:`without`)."""
    chosen = [service.get(n) for n in names] if names else list(service.models)
    if switch_off:
        chosen = [without(m, switch_off) for m in chosen]
    svc = InferenceService(chosen, service.device, vad=service.vad, trim=service.trim,
                           min_fill=service.min_fill)
    tv: dict[str, list[float]] = {m.name: [] for m in chosen}
    same: dict[str, list[bool]] = {m.name: [] for m in chosen}
    for clip in clips:
        a_pred, b_pred = svc.predict(clip), svc.predict(transform(clip))
        for a, b in zip(a_pred.models, b_pred.models):
            tv[a.name].append(float(0.5 * np.abs(np.asarray(a.probs) - np.asarray(b.probs)).sum()))
            same[a.name].append(a.top == b.top)
    return {m.name: {"n": len(tv[m.name]), "tv_mean": float(np.mean(tv[m.name])),
                     "tv_max": float(np.max(tv[m.name])),
                     "agreement": float(np.mean(same[m.name]))} for m in chosen}
