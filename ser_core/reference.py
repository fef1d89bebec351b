""""My voice": a speaker's neutral reference speech, used to normalise model inputs.

A user records (or uploads) 10-30 s of calm, neutral speech; the reference's mean input
statistics are computed once per model, and every model that can use them classifies the clip
*relative to that voice*:

- ``acoustic_stats``, whose checkpoint holds a second head fitted on functionals minus each
  training speaker's neutral mean (:mod:`ser_core.models.acoustic_stats`). Its reference is cut
  into 3 s pieces whose functionals are averaged, like the 2-4 s neutral clips the head was
  fitted with.
- The deep models whose input is a spectral image or sequence (log-mel, MFCC, their deltas,
  mel pairs), when their checkpoint holds ``speaker_reference.safetensors``: the mean of the
  model's (normalised) input per feature bin over the neutral speech of its training
  speakers (each speaker's mean, then their mean). With a reference, each bin of the input is
  shifted by that training-neutral mean minus the reference's mean, so the speaker's neutral
  voice lands where the training speakers' neutral voices were: a per-speaker cepstral /
  log-spectral mean normalisation anchored on neutral speech, which also removes a steady
  colouring of the microphone and room. No weights change; the reference goes through the
  same segmenting and features as the clips. Raw-waveform inputs (``serct_small``) have no
  bins and ignore the reference, and so do models whose features are centred on each
  segment's own mean (``center_time``). ``scripts/fit_neutral_reference.py`` writes the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ser_core.audio import Audio, resample
from ser_core.errors import AudioError

PIECE_S = 3.0
MIN_REFERENCE_S = 5.0
#: The training speakers' neutral input means of a deep checkpoint (next to its weights).
NEUTRAL_FILE = "speaker_reference.safetensors"


def takes_reference(entry: Any) -> bool:
    """Whether an installed model has a fitted speaker-reference head."""
    model = entry.model
    return bool(getattr(model, "accepts_reference", False)
                and getattr(getattr(model, "config", None), "reference_head", False))


def input_bin_means(entry: Any, waves: Sequence[torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """Mean of ``entry``'s prepared input per feature bin (averaged over segments and time)
    for mono waveforms at its sample rate, cut into its segments as the inference service cuts
    a clip; ``None`` when its input has no bins (a raw waveform or a vector) or its features
    are centred (``center_time``: every segment already has its own mean removed, so a
    speaker's mean has nothing left to shift)."""
    from ser_core import vad
    from ser_core.features.segments import segment_waveform

    if entry.meta.feature.config.get("center_time"):
        return None

    sums: dict[str, torch.Tensor] = {}
    count = 0
    for wave in waves:
        speech = vad.analyse(wave.float(), entry.sample_rate)  # speech only, as clips are cut
        if speech.enough:
            wave = vad.trim(wave.float(), entry.sample_rate, speech)[0]
        segs = segment_waveform(wave.float(), entry.sample_rate, entry.spec.segment_s,
                                entry.spec.hop_s, min_tail=0.5)
        x = entry.prepare(segs)
        parts = x if isinstance(x, dict) else {"x": x}
        if any(v.dim() < 3 or v.shape[-2] < 2 for v in parts.values()):
            return None  # (n, features) vectors or (n, 1, time) waveforms: nothing to shift
        for k, v in parts.items():
            total = v.float().mean(dim=-1).sum(dim=0)
            sums[k] = sums[k] + total if k in sums else total
        count += segs.shape[0]
    if not count:
        return None
    return {k: v / count for k, v in sums.items()}


def training_speakers(meta: Any) -> list[str]:
    """``corpus:speaker`` of every speaker a checkpoint trained on: its protocol's list, or for a
    training run's fold checkpoint (which names its run folder) the fold's ``splits.json``."""
    protocol = getattr(meta, "protocol", None) or {}
    listed = (protocol.get("speakers") or {}).get("train")
    if listed:
        return list(listed)
    run_dir = (getattr(meta, "extra", None) or {}).get("run_dir")
    splits = Path(run_dir) / "splits.json" if run_dir else None
    if splits is None or not splits.is_file():
        return []
    folds = json.loads(splits.read_text()).get("folds", [])
    fold = next((f for f in folds if f.get("name") == protocol.get("fold")), None)
    return list((fold or {}).get("speakers", {}).get("train", []))


def neutral_means(entry: Any) -> dict[str, torch.Tensor] | None:
    """The training speakers' neutral input means stored with ``entry``'s checkpoint, or None."""
    cached = getattr(entry, "_neutral_means", False)
    if cached is False:
        path = entry.path / NEUTRAL_FILE
        cached = None
        if path.is_file():
            from safetensors.torch import load_file

            cached = {k: v.float() for k, v in load_file(str(path)).items()}
        entry._neutral_means = cached
    return cached


def shift_input(x: Any, shift: dict[str, torch.Tensor]) -> Any:
    """``x`` (a tensor or a dict of them, bins before a last time axis) plus ``shift`` per bin."""
    if isinstance(x, dict):
        return {k: v + shift[k].to(v.device, v.dtype).unsqueeze(-1) if k in shift else v for k, v in x.items()}
    return x + shift["x"].to(x.device, x.dtype).unsqueeze(-1)


@dataclass
class SpeakerReference:
    """Reference clips of one speaker and, per model, the mean of their model inputs."""

    clips: list[Audio]
    _vectors: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_audio(cls, clips: Sequence[Audio], min_seconds: float = MIN_REFERENCE_S) -> "SpeakerReference":
        clips = list(clips)
        total = sum(c.duration_s for c in clips)
        if total < min_seconds:
            raise AudioError(f"The voice reference is {total:.1f} s long; record at least "
                             f"{min_seconds:.0f} s (10-30 s is best) of calm, neutral speech.")
        return cls(clips)

    @property
    def duration_s(self) -> float:
        return sum(c.duration_s for c in self.clips)

    def vector_for(self, entry: Any) -> torch.Tensor:
        """Mean model input ``(D,)`` of the reference for ``entry`` (an InstalledModel)."""
        key = f"{entry.name}:{id(entry.model)}"
        if key not in self._vectors:
            pieces = []
            for clip in self.clips:
                wave = resample(clip.waveform.float(), clip.sample_rate, entry.sample_rate)
                step = int(PIECE_S * entry.sample_rate)
                starts = range(0, max(1, wave.shape[-1] - step // 2), step)
                pieces += [wave[s: s + step] for s in starts if wave[s: s + step].shape[-1] >= step // 2]
            feats = torch.cat([entry.prepare(p.unsqueeze(0)) for p in pieces], dim=0)
            self._vectors[key] = feats.mean(dim=0)
        return self._vectors[key]

    def shift_for(self, entry: Any) -> dict[str, torch.Tensor] | None:
        """Per-bin shift of ``entry``'s input (training speakers' neutral mean minus this
        reference's mean), or None when the checkpoint has no neutral means or its input no
        bins."""
        neutral = neutral_means(entry)
        if neutral is None:
            return None
        key = f"shift:{entry.name}:{id(entry.model)}"
        if key not in self._vectors:
            waves = [resample(c.waveform.float(), c.sample_rate, entry.sample_rate) for c in self.clips]
            with torch.inference_mode():
                mine = input_bin_means(entry, waves)
            self._vectors[key] = None if mine is None or set(mine) != set(neutral) else {
                k: neutral[k] - mine[k] for k in mine}
        return self._vectors[key]
