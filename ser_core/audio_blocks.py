"""Bounded-memory decoding: read a file in blocks, mix down and resample as it goes.

A clip is never held at its native rate with all its channels: each block of ``BLOCK``
frames is checked (finite samples), averaged over channels, and fed to a
:class:`BlockResampler`, which gives the same samples as
``torchaudio.functional.resample`` on the whole signal (within float rounding) while holding
only a few thousand input samples beyond what it has already turned into output.

How the resampler stays exact: torchaudio's sinc resampler reduces the rates by their
greatest common divisor to ``og → ng`` and computes output block ``b`` (output samples
``b·ng .. b·ng + ng - 1``) from the input samples ``[b·og - width, b·og + og + width)``,
zero outside the signal. Resampling a slice that starts at a multiple of ``og`` and
reaches ``width`` samples beyond the blocks kept therefore yields exactly those blocks.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

#: Frames decoded at a time (8 channels of float32: 2 MB).
BLOCK = 1 << 16
#: Input samples held before streaming starts (16 MB of float32: 95 s at 44.1 kHz). A clip
#: up to this long is resampled in one call, bit for bit as torchaudio does it on the whole
#: signal (the shipped models' recorded predictions stay identical); a longer one streams.
DEFER = 1 << 22


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                       orig_freq=orig, new_freq=new).numpy()


class BlockResampler:
    """Feed mono float32 blocks at ``orig`` Hz; get the signal at ``new`` Hz piece by piece.

    ``feed(x)`` returns the output samples that are final so far; ``flush()`` the rest. The
    first ``defer`` input samples are only buffered: a signal no longer than that is
    resampled in one call at ``flush()``.
    Together they equal ``torchaudio.functional.resample(whole, orig, new)`` (default
    ``lowpass_filter_width=6``, ``rolloff=0.99``, Hann-windowed sinc).
    """

    def __init__(self, orig: int, new: int, lowpass_filter_width: int = 6, rolloff: float = 0.99,
                 defer: int = DEFER):
        self.orig, self.new = int(orig), int(new)
        self.defer = int(defer)
        g = math.gcd(self.orig, self.new)
        self.og, self.ng = self.orig // g, self.new // g
        width = math.ceil(lowpass_filter_width * self.og / (min(self.og, self.ng) * rolloff))
        # context kept on each side: a whole number of input blocks, with room to spare
        self.pad = self.og * (2 * math.ceil(width / self.og) + 2)
        self.width = width
        self.buf = np.zeros(0, dtype=np.float32)
        self.buf_start = 0      # absolute input index of buf[0] (a multiple of og)
        self.done = 0           # output blocks already returned

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self.buf[start - self.buf_start:end - self.buf_start]

    def feed(self, x: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.asarray(x, dtype=np.float32)])
        total = self.buf_start + len(self.buf)
        if self.done == 0 and total <= self.defer:
            return np.zeros(0, dtype=np.float32)  # a short clip is resampled whole in flush()
        ready = (total - self.og - self.width) // self.og + 1 if total >= self.og + self.width else 0
        if ready <= self.done:
            return np.zeros(0, dtype=np.float32)
        s = max(0, self.done * self.og - self.pad)
        e = min(total, ready * self.og + self.pad)
        y = _resample(self._slice(s, e), self.orig, self.new)
        first = (self.done - s // self.og) * self.ng
        out = y[first:first + (ready - self.done) * self.ng]
        self.done = ready
        keep_from = max(self.buf_start, self.done * self.og - self.pad)
        self.buf = self.buf[keep_from - self.buf_start:].copy()
        self.buf_start = keep_from
        return out

    def flush(self) -> np.ndarray:
        total = self.buf_start + len(self.buf)
        if total == 0:
            return np.zeros(0, dtype=np.float32)
        s = max(0, self.done * self.og - self.pad)
        y = _resample(self._slice(s, total), self.orig, self.new)
        out = y[(self.done - s // self.og) * self.ng:]
        self.buf = np.zeros(0, dtype=np.float32)
        return out


def mono_blocks(sound_file, blocksize: int = BLOCK) -> Iterator[np.ndarray]:
    """Mono float32 blocks (the mean of the channels) of an open ``soundfile.SoundFile``;
    raises ``ValueError`` at the first block holding a NaN or infinite sample."""
    for block in sound_file.blocks(blocksize=blocksize, dtype="float32", always_2d=True):
        if not np.isfinite(block).all():
            raise ValueError("non-finite samples")
        yield block.mean(axis=1) if block.shape[1] > 1 else block[:, 0].copy()
