""""My voice": a speaker's neutral reference speech, used to normalise model inputs.

A user records (or uploads) 10-30 s of calm, neutral speech. For every installed model that
supports it (today ``acoustic_stats``, whose checkpoint holds a second head fitted on
functionals minus each training speaker's neutral mean, see
:mod:`ser_core.models.acoustic_stats`), the reference's mean input statistics are computed once
and the model then classifies the clip *relative to that voice*. Other models ignore the
reference (their inputs are frame sequences, for which no speaker-referenced model is fitted).

The reference is cut into 3 s pieces whose functionals are averaged, so that it is summarised
like the 2-4 s neutral clips the head was fitted with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ser_core.audio import Audio, resample
from ser_core.errors import AudioError

PIECE_S = 3.0
MIN_REFERENCE_S = 5.0


def takes_reference(entry: Any) -> bool:
    """Whether an installed model has a fitted speaker-reference head."""
    model = entry.model
    return bool(getattr(model, "accepts_reference", False)
                and getattr(getattr(model, "config", None), "reference_head", False))


@dataclass
class SpeakerReference:
    """Reference clips of one speaker and, per model, the mean of their model inputs."""

    clips: list[Audio]
    _vectors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

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
