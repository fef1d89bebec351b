"""Corpora, label sets, evaluation protocols and the feature cache.

- one module per corpus in :mod:`~ser_core.data.corpora` (found by
  :mod:`~ser_core.data.registry`; :func:`list_corpora` names them), each turning a folder in
  its authors' layout into :class:`Utterance` records plus a skipped-files report;
- :mod:`~ser_core.data.labels`: named, versioned label sets with mapping tables;
- :mod:`~ser_core.data.splits`: speaker-independent protocols (and one labelled
  speaker-dependent split), checked for leakage, serialisable;
- :mod:`~ser_core.data.cache`: waveforms and features computed once per file and config;
- :mod:`~ser_core.data.selection`: several corpora mapped to one label set.

Importing this package is cheap (no torch); the cache imports torch when used.
"""

from ser_core.data.duplicates import audio_sha256, duplicate_groups, file_sha256
from ser_core.data.labels import (EKMAN7, EMODB7, IEMOCAP4, LabelSet, apply_label_set, get_label_set,
                                  list_label_sets, native_label_set)
from ser_core.data.records import CorpusListing, Skipped, Utterance
from ser_core.data.registry import CorpusInfo, canonical_name, corpus_info, list_corpora, load_corpus
from ser_core.data.selection import LabeledData, complete_speakers, load_labeled, parse_corpus_args
from ser_core.data.splits import (PROTOCOLS, Fold, LeakageError, Split, cross_corpus, leave_one_session_out,
                                  leave_one_speaker_out, make_split, seed000_folds, speaker_dependent_random,
                                  speaker_kfold)


def __getattr__(name):  # FeatureCache imports torch: load it on first use only
    if name in ("FeatureCache", "load_waveforms", "default_cache"):
        from ser_core.data import cache

        return getattr(cache, name)
    raise AttributeError(name)


__all__ = [
    "Utterance", "CorpusListing", "Skipped", "CorpusInfo", "load_corpus", "list_corpora", "corpus_info",
    "canonical_name", "LabelSet", "EKMAN7", "EMODB7", "IEMOCAP4", "get_label_set", "list_label_sets",
    "native_label_set", "apply_label_set", "LabeledData", "load_labeled", "parse_corpus_args",
    "complete_speakers", "Split", "Fold", "LeakageError", "PROTOCOLS", "make_split",
    "leave_one_speaker_out", "speaker_kfold", "leave_one_session_out", "seed000_folds", "cross_corpus",
    "speaker_dependent_random", "duplicate_groups", "file_sha256", "audio_sha256", "FeatureCache",
    "load_waveforms", "default_cache",
]
