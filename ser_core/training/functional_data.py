"""Cached utterance functionals of labelled corpora: what the acoustic-statistics model trains on.

Each clip's :mod:`~ser_core.features.functionals` vector is computed once (from the data
layer's cached 16 kHz waveform) and stored in the :class:`~ser_core.data.cache.FeatureCache`
(``$SER_CACHE_DIR``, default ``.cache/ser``), keyed by the file's content and the resolved
feature config, so refitting the linear model takes seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.data.records import Utterance

KIND = "acoustic_functionals"


@dataclass
class FunctionalTable:
    """Functionals ``X`` (n, D) of ``utterances`` with their class indices ``y``."""

    utterances: list[Utterance]
    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    feature_config: dict

    @property
    def speakers(self) -> np.ndarray:
        return np.array([u.speaker_key for u in self.utterances])

    @property
    def corpora(self) -> np.ndarray:
        return np.array([u.corpus for u in self.utterances])

    def subset(self, mask: np.ndarray) -> "FunctionalTable":
        idx = np.flatnonzero(mask)
        return FunctionalTable([self.utterances[i] for i in idx], self.X[idx], self.y[idx],
                               self.classes, self.feature_config)


def functional_config(**params) -> dict:
    from ser_core.features.pipeline import feature_config

    return dataclasses.asdict(feature_config(KIND, **params))


def functionals_of(utterances: Sequence[Utterance], classes: Sequence[str], params: dict | None = None,
                   cache=None, progress: Callable[[int, int], None] | None = None) -> FunctionalTable:
    """The (cached) functionals of every utterance; computed once per file and config."""
    from ser_core.data.cache import FeatureCache, default_cache

    cache = cache if cache is not None else default_cache()
    if cache is None:  # caching switched off: compute in a throw-away cache-less way
        cache = _NoCache()
    config = functional_config(**dict(params or {}))
    rows = []
    for i, u in enumerate(utterances, 1):
        rows.append(cache.features(u.path, KIND, config, DEFAULT_SAMPLE_RATE).numpy())
        if progress:
            progress(i, len(utterances))
    index = {c: k for k, c in enumerate(classes)}
    X = np.stack(rows).astype(np.float64) if rows else np.zeros((0, 0))
    y = np.array([index[u.label] for u in utterances], dtype=np.int64)
    return FunctionalTable(list(utterances), X, y, tuple(classes), config)


class _NoCache:
    def features(self, path, kind, params, sample_rate):
        from ser_core.audio import load_audio
        from ser_core.features.pipeline import extract

        return extract(kind, load_audio(path, target_sr=sample_rate).waveform, sample_rate, config=params)
