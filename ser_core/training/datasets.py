"""Segment datasets over cached waveforms: every utterance of a run, segmented once.

The seeds train on fixed-length segments that inherit their utterance's label and predict an
utterance by pooling its segments' posteriors (``ser_core.features.segments``). A
:class:`SegmentBank` holds the 16 kHz waveforms of all utterances a run uses (every fold,
every split) in one flat tensor, each utterance zero-padded exactly as
:func:`~ser_core.features.segments.segment_waveform` pads it, plus a table of segments
(start sample, length, utterance). A batch of segments is then one gather, on whatever device
the bank lives (no per-item Python, no DataLoader workers: the GPU never waits on data).
Overlapping segments (GLAM's 2 s windows at a 0.4 s hop) cost no extra memory.

Waveforms come decoded, mono, resampled to the run's rate, and are cached by the data layer
when it offers a waveform cache (``ser_core.data.cache``); otherwise they are decoded here
with :func:`ser_core.audio.load_audio` (a few threads).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ser_core import DEFAULT_SAMPLE_RATE


@dataclass
class Item:
    """One utterance as the trainer sees it (built from a data-layer ``Utterance``)."""

    uid: str
    path: str
    corpus: str
    speaker: str  # namespaced speaker key ("ravdess:07")
    label: str
    y: int


def segment_layout(n_samples: int, sample_rate: int, segment_s: float | None,
                   hop_s: float | None) -> tuple[int, int, int]:
    """``(n_segments, segment_samples, hop_samples)`` as ``segment_waveform`` cuts a clip;
    ``segment_s=None`` → one segment of the whole clip."""
    if segment_s is None:
        return 1, n_samples, n_samples
    seg = int(round(segment_s * sample_rate))
    hop = int(round((hop_s or segment_s) * sample_rate))
    n = max(1, math.ceil(max(n_samples - seg, 0) / hop) + 1)
    return n, seg, hop


def load_waveforms(paths: Sequence[str], sample_rate: int = DEFAULT_SAMPLE_RATE,
                   threads: int = 4) -> list[torch.Tensor]:
    """Decode each file to a mono float32 ``(time,)`` tensor at ``sample_rate``.

    Uses the data layer's waveform cache when it has one (``ser_core.data.cache
    .load_waveforms(paths, sample_rate)``), otherwise decodes with ``ser_core.audio``.
    """
    try:
        from ser_core.data import cache as data_cache  # type: ignore[attr-defined]

        loader = getattr(data_cache, "load_waveforms", None)
    except ImportError:
        loader = None
    if loader is not None:
        return [torch.as_tensor(w, dtype=torch.float32) for w in loader(list(paths), sample_rate)]
    from ser_core.audio import load_audio

    def one(p: str) -> torch.Tensor:
        return load_audio(p, target_sr=sample_rate).waveform

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, paths))


class SegmentBank:
    """All utterances of a run as one padded waveform buffer plus a segment table.

    Attributes (tensors on ``device``): ``audio`` (flat samples), ``seg_start``,
    ``seg_len`` (samples), ``seg_utt`` (utterance index), ``utt_y`` (class id per utterance),
    ``utt_first_seg``/``utt_n_seg``; ``fixed_len`` is the common segment length or ``None``
    when segments are whole clips of different lengths (``segment_s=None``).
    """

    def __init__(self, waveforms: Sequence[torch.Tensor], labels: Sequence[int], sample_rate: int,
                 segment_s: float | None, hop_s: float | None,
                 device: torch.device | str = "cpu") -> None:
        if len(waveforms) != len(labels):
            raise ValueError("one label per waveform")
        self.sample_rate = int(sample_rate)
        self.segment_s, self.hop_s = segment_s, hop_s
        chunks, starts, lens, utts, first, counts = [], [], [], [], [], []
        offset = 0
        for i, w in enumerate(waveforms):
            w = torch.as_tensor(w, dtype=torch.float32).flatten()
            n, seg, hop = segment_layout(int(w.shape[0]), self.sample_rate, segment_s, hop_s)
            total = (n - 1) * hop + seg
            if total > w.shape[0]:
                w = torch.nn.functional.pad(w, (0, total - w.shape[0]))
            chunks.append(w[:total])
            first.append(len(starts))
            counts.append(n)
            for k in range(n):
                starts.append(offset + k * hop)
                lens.append(seg)
                utts.append(i)
            offset += total
        dev = torch.device(device)
        self.audio = (torch.cat(chunks) if chunks else torch.zeros(0)).to(dev)
        self.seg_start = torch.tensor(starts, dtype=torch.long, device=dev)
        self.seg_len = torch.tensor(lens, dtype=torch.long, device=dev)
        self.seg_utt = torch.tensor(utts, dtype=torch.long, device=dev)
        self.utt_y = torch.tensor(list(labels), dtype=torch.long, device=dev)
        self.utt_first_seg = torch.tensor(first, dtype=torch.long)
        self.utt_n_seg = torch.tensor(counts, dtype=torch.long)
        uniq = set(lens)
        self.fixed_len: int | None = lens[0] if len(uniq) == 1 else None
        self.device = dev

    # -- sizes --------------------------------------------------------------------------
    @property
    def n_segments(self) -> int:
        return int(self.seg_start.shape[0])

    @property
    def n_utterances(self) -> int:
        return int(self.utt_y.shape[0])

    def seg_y(self, seg_idx: torch.Tensor) -> torch.Tensor:
        return self.utt_y[self.seg_utt[seg_idx.to(self.device)]]

    def segments_of(self, utt_indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Indices of every segment of the given utterances (in utterance order)."""
        idx = torch.as_tensor(utt_indices, dtype=torch.long).flatten().cpu()
        if idx.numel() == 0:
            return torch.zeros(0, dtype=torch.long)
        firsts, counts = self.utt_first_seg[idx], self.utt_n_seg[idx]
        parts = [torch.arange(int(f), int(f) + int(c)) for f, c in zip(firsts, counts)]
        return torch.cat(parts)

    # -- batches ------------------------------------------------------------------------
    def gather(self, seg_idx: torch.Tensor) -> torch.Tensor:
        """Waveform segments ``(batch, samples)``; whole clips of different lengths are
        zero-padded to the longest in the batch."""
        seg_idx = seg_idx.to(self.device)
        starts = self.seg_start[seg_idx]
        lens = self.seg_len[seg_idx]
        width = self.fixed_len if self.fixed_len is not None else int(lens.max())
        ar = torch.arange(width, device=self.device)
        pos = starts[:, None] + ar[None, :]
        if self.fixed_len is not None:
            return self.audio[pos]
        valid = ar[None, :] < lens[:, None]
        out = self.audio[pos.clamp_max(self.audio.shape[0] - 1)]
        return out * valid

    def to(self, device: torch.device | str) -> "SegmentBank":
        dev = torch.device(device)
        for name in ("audio", "seg_start", "seg_len", "seg_utt", "utt_y"):
            setattr(self, name, getattr(self, name).to(dev))
        self.device = dev
        return self

    def nbytes(self) -> int:
        return int(self.audio.numel() * 4)


def as_items(utterances: Sequence[Any], label_names: Sequence[str]) -> list[Item]:
    """Data-layer utterances (with ``label`` set by a label set) → trainer items."""
    index = {name: i for i, name in enumerate(label_names)}
    items = []
    for u in utterances:
        label = getattr(u, "label", None)
        if label is None or label not in index:
            continue
        speaker = getattr(u, "speaker_key", None) or f"{u.corpus}:{u.speaker}"
        items.append(Item(uid=u.uid, path=u.path, corpus=u.corpus, speaker=speaker,
                          label=label, y=index[label]))
    return items
