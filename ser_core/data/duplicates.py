"""Content hashes: exact-duplicate audio detection and cache keys.

Two hashes, for two purposes:

- :func:`file_sha256` -- the bytes of the file. The feature cache keys on it: any change
  to the file, header included, invalidates what was computed from it.
- :func:`audio_sha256` -- the decoded samples (with rate and channel count). Two files with
  identical audio are duplicates even if their headers differ (WAV vs FLAC, tags, names).
  :func:`duplicate_groups` uses it, and the splits keep each group in one part.

Hashing is memoised in-process on (path, size, mtime), so repeated calls are free.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from ser_core.data.records import Utterance

_MEMO: dict[tuple[str, str, int, int], str] = {}
_CHUNK = 1 << 20


def _stat_key(kind: str, path: str | Path) -> tuple[str, str, int, int]:
    st = os.stat(path)
    return (kind, str(path), st.st_size, st.st_mtime_ns)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    key = _stat_key("file", path)
    if key not in _MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        _MEMO[key] = h.hexdigest()
    return _MEMO[key]


def audio_sha256(path: str | Path) -> str:
    """SHA-256 of the decoded samples, sample rate and channel count (hex)."""
    import numpy as np
    import soundfile as sf

    key = _stat_key("audio", path)
    if key not in _MEMO:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        h = hashlib.sha256(f"{sr}:{data.shape[1]}:".encode())
        h.update(np.ascontiguousarray(data).tobytes())
        _MEMO[key] = h.hexdigest()
    return _MEMO[key]


def _head_sha256(path: str | Path, frames: int = 4096) -> str:
    """Hash of the first ``frames`` decoded frames: a cheap pre-filter before a full decode."""
    import numpy as np
    import soundfile as sf

    key = _stat_key(f"head{frames}", path)
    if key not in _MEMO:
        data, _ = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
        _MEMO[key] = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    return _MEMO[key]


def _refine(candidates: list[Utterance], fn) -> list[list[Utterance]]:
    by: dict[str, list[Utterance]] = defaultdict(list)
    for u in candidates:
        try:
            by[fn(u.path)].append(u)
        except Exception:  # unreadable files are the loaders' business, not duplicates
            continue
    return [g for g in by.values() if len(g) > 1]


def duplicate_groups(utterances: Iterable[Utterance]) -> list[list[str]]:
    """Groups (uids, sorted; groups sorted) of utterances whose decoded audio is identical.

    Candidates must share length, rate and channel count (header), then the hash of their
    first 4096 frames; only those are decoded in full. Costs about a header read per file.
    """
    import soundfile as sf

    by_shape: dict[tuple, list[Utterance]] = defaultdict(list)
    for u in utterances:
        try:
            info = sf.info(u.path)
        except Exception:
            continue
        by_shape[(info.frames, info.samplerate, info.channels)].append(u)
    groups = []
    for candidates in by_shape.values():
        if len(candidates) < 2:
            continue
        for head_group in _refine(candidates, _head_sha256):
            groups.extend(sorted(u.uid for u in g) for g in _refine(head_group, audio_sha256))
    return sorted(groups)
