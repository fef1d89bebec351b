"""Several corpora loaded and mapped to one label set: what training and evaluation consume.

    data = load_labeled(["ravdess", "emodb"], ["/data/ravdess", "/data/emodb"], "ekman7")
    data.utterances      # Utterance records with .label set (dropped labels removed)
    data.classes         # the label set's classes, in model output order
    data.to_dict()       # provenance to save with results (roots, counts, skipped, dropped)

The CLI form ``--corpus C[,C2] --root PATH[,PATH2]`` goes through :func:`parse_corpus_args`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ser_core.data.labels import LabelSet, apply_label_set
from ser_core.data.records import CorpusListing, Skipped, Utterance
from ser_core.data.registry import canonical_name, load_corpus
from ser_core.errors import ConfigError, DatasetError


@dataclass
class LabeledData:
    label_set: LabelSet
    utterances: list[Utterance]
    listings: list[CorpusListing] = field(repr=False)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.label_set.classes

    @property
    def corpora(self) -> list[str]:
        return [l.corpus for l in self.listings]

    @property
    def skipped(self) -> list[tuple[str, Skipped]]:
        return [(l.corpus, s) for l in self.listings for s in l.skipped]

    def targets(self) -> list[int]:
        index = {c: i for i, c in enumerate(self.classes)}
        return [index[u.label] for u in self.utterances]

    def class_counts(self) -> dict[str, int]:
        c = Counter(u.label for u in self.utterances)
        return {k: c.get(k, 0) for k in self.classes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_set": self.label_set.to_dict(),
            "corpora": [{"name": l.corpus, "root": l.root, "files": len(l.utterances),
                         "speakers": len(l.speakers), "skipped": len(l.skipped),
                         "mapping": self.label_set.describe(l.corpus)} for l in self.listings],
            "utterances": len(self.utterances),
            "speakers": len({u.speaker_key for u in self.utterances}),
            "class_counts": self.class_counts(),
            "dropped": self.dropped,
        }


def parse_corpus_args(corpus: str | Sequence[str], root: str | Sequence[str]) -> list[tuple[str, Path]]:
    """``"ravdess,emodb"`` and ``"/d/ravdess,/d/emodb"`` -> ``[("ravdess", Path), ...]``."""
    names = [c.strip() for c in (corpus.split(",") if isinstance(corpus, str) else corpus) if c.strip()]
    roots = [r.strip() for r in (root.split(",") if isinstance(root, str) else root) if str(r).strip()]
    if not names:
        raise ConfigError("Name at least one corpus (--corpus).")
    if len(names) != len(roots):
        raise ConfigError(f"{len(names)} corpora but {len(roots)} root folders: give one root per corpus, "
                          "in the same order (--corpus a,b --root /path/a,/path/b).")
    pairs = [(canonical_name(n), Path(r).expanduser()) for n, r in zip(names, roots)]
    seen = Counter(n for n, _ in pairs if n != "generic")
    twice = [n for n, k in seen.items() if k > 1]
    if twice:
        raise ConfigError(f"Corpus {twice[0]} is named twice.")
    return pairs


def load_labeled(corpora: str | Sequence[str], roots: str | Sequence[str] | Sequence[Path],
                 label_set: str | LabelSet = "ekman7", *, check_audio: bool = True) -> LabeledData:
    """Load each corpus, map every utterance to ``label_set``, drop what the set drops.

    Raises :class:`DatasetError` if a corpus yields no usable utterance (with the loader's
    first skip reasons, so the user sees what is wrong with the folder).
    """
    pairs = parse_corpus_args(corpora, [str(r) for r in roots] if not isinstance(roots, str) else roots)
    listings = []
    for name, root in pairs:
        listing = load_corpus(name, root, check_audio=check_audio)
        if not listing.utterances:
            reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in listing.skipped[:3])
            raise DatasetError(f"No usable {name} utterances under {root}"
                               + (f" ({len(listing.skipped)} skipped, e.g. {reasons})." if reasons else
                                  " (no audio files found)."))
        listings.append(listing)
    everything = [u for l in listings for u in l.utterances]
    uids = Counter(u.uid for u in everything)
    clash = [uid for uid, n in uids.items() if n > 1]
    if clash:
        raise DatasetError(f"Utterance id {clash[0]} occurs in two loaded folders; load each corpus once.")
    mapped = apply_label_set(everything, label_set)
    if not mapped.kept:
        raise DatasetError(f"No utterance has a label of {mapped.label_set.id} "
                           f"({', '.join(mapped.label_set.classes)}).")
    return LabeledData(mapped.label_set, mapped.kept, listings, mapped.dropped)


def complete_speakers(utterances: Iterable[Utterance], classes: Sequence[str]) -> list[Utterance]:
    """Only the utterances of speakers who have every one of ``classes`` (by ``label``, else
    native ``emotion``). Seed 000 kept the 25 SEAC speakers with all four IEMOCAP emotions."""
    utterances = list(utterances)
    have: dict[str, set[str]] = defaultdict(set)
    for u in utterances:
        have[u.speaker_key].add(u.label or u.emotion)
    need = set(classes)
    return [u for u in utterances if need <= have[u.speaker_key]]
