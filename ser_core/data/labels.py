"""Named, versioned label sets with explicit mapping tables from each corpus' native labels.

A :class:`LabelSet` lists its classes (in a fixed order: the model's output order) and,
per corpus, a table ``native label -> class`` where ``None`` means *dropped* (the
utterance is not used with this label set). Merges (two native labels on one class) and
drops are spelled out in :meth:`LabelSet.describe` and saved with results via
:meth:`LabelSet.to_dict`. Changing a table means a new version.

Label sets:

``ekman7`` v1 -- neutral, happy, sad, angry, fear, disgust, surprise (the seed 002 set).
    RAVDESS *calm* is dropped (seed 002's RAVDESS count, 1,248 = 1,440 - 192 calm, shows
    it dropped calm); Emo-DB *boredom* dropped; IEMOCAP *excited* merged into happy,
    *frustrated*, *other* and *xxx* dropped; TESS *pleasant surprise* -> surprise; EMOVO
    *joy* -> happy.
``iemocap4`` v1 -- neutral, happy, sad, angry (seed 000 and seed 004). IEMOCAP *excited*
    merged into happy (5,531 utterances); everything else dropped in every corpus (fear,
    disgust, surprise, calm, boredom, frustrated, ...).
``emodb7`` v1 -- Emo-DB's own seven classes (anger, boredom, disgust, fear, happiness, sadness,
    neutral, in Emo-DB's order and spelling), with every other corpus mapped onto them through
    its ``ekman7`` table (*happy* -> happiness, *sad* -> sadness, *angry* -> anger; surprise
    dropped; *boredom* only from Emo-DB). For training Emo-DB's native 7-class task on more
    speakers than Emo-DB's ten: on Emo-DB alone it is exactly ``native:emodb``.
``native:<corpus>`` v1 -- a corpus' own labels, unchanged (RAVDESS 8 classes for seed 003,
    AESDD 5 for seed 002's transfer, SEAC 5, ...).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ser_core.data.records import Utterance
from ser_core.errors import ConfigError

Table = Mapping[str, "str | None"]


@dataclass(frozen=True)
class LabelSet:
    name: str
    version: int
    classes: tuple[str, ...]
    tables: Mapping[str, Table] = field(compare=False, hash=False)
    description: str = ""
    notes: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, label: str) -> int:
        return self.classes.index(label)

    def corpora(self) -> list[str]:
        return sorted(self.tables)

    def table(self, corpus: str) -> Table:
        if corpus not in self.tables:
            raise ConfigError(f"Label set {self.id} has no mapping for corpus {corpus!r} "
                              f"(it maps: {', '.join(self.corpora())}).")
        return self.tables[corpus]

    def map(self, corpus: str, native: str) -> str | None:
        """The class for a native label, or None if this set drops it.

        Generic (user) data: labels missing from the table are dropped. For a named corpus a
        label missing from the table is an error (the table must be complete).
        """
        table = self.table(corpus)
        if native in table:
            return table[native]
        if corpus == "generic":
            return None
        raise ConfigError(f"Label set {self.id}: {corpus} label {native!r} is not in its table.")

    def describe(self, corpus: str) -> dict[str, Any]:
        """What is kept, renamed, merged and dropped for ``corpus`` (JSON-ready)."""
        table = self.table(corpus)
        by_class: dict[str, list[str]] = defaultdict(list)
        for native, cls in table.items():
            if cls is not None:
                by_class[cls].append(native)
        return {
            "kept": {n: c for n, c in table.items() if c is not None and n == c},
            "renamed": {n: c for n, c in table.items() if c is not None and n != c},
            "merged": {c: sorted(ns) for c, ns in by_class.items() if len(ns) > 1},
            "dropped": sorted(n for n, c in table.items() if c is None),
            "note": self.notes.get(corpus, ""),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "id": self.id,
                "classes": list(self.classes), "description": self.description,
                "tables": {c: dict(t) for c, t in self.tables.items()},
                "notes": dict(self.notes)}


# ------------------------------------------------------------------------ native label sets

def _native_labels() -> dict[str, tuple[str, ...]]:
    from ser_core.data.registry import corpus_info, list_corpora

    return {c: corpus_info(c).native_labels for c in list_corpora() if c != "generic"}


# ------------------------------------------------------------------------------- ekman7 v1

_EKMAN7 = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")

#: User (generic) label words -> ekman7 class. Anything else is dropped and reported.
GENERIC_SYNONYMS = {
    "neutral": "neutral", "neu": "neutral",
    "happy": "happy", "happiness": "happy", "joy": "happy", "hap": "happy",
    "sad": "sad", "sadness": "sad",
    "angry": "angry", "anger": "angry", "ang": "angry", "mad": "angry",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "surprise": "surprise", "surprised": "surprise", "pleasant_surprise": "surprise", "ps": "surprise",
}

EKMAN7 = LabelSet(
    name="ekman7",
    version=1,
    classes=_EKMAN7,
    description="Ekman's six basic emotions plus neutral (seed 002).",
    tables={
        "ravdess": {"neutral": "neutral", "calm": None, "happy": "happy", "sad": "sad",
                    "angry": "angry", "fearful": "fear", "disgust": "disgust", "surprised": "surprise"},
        "emodb": {"neutral": "neutral", "boredom": None, "happiness": "happy", "sadness": "sad",
                  "anger": "angry", "fear": "fear", "disgust": "disgust"},
        "emovo": {"neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
                  "fear": "fear", "disgust": "disgust", "surprise": "surprise"},
        "iemocap": {"neutral": "neutral", "happy": "happy", "excited": "happy", "sad": "sad",
                    "angry": "angry", "fear": "fear", "disgust": "disgust", "surprise": "surprise",
                    "frustrated": None, "other": None, "xxx": None},
        "tess": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
                 "fear": "fear", "disgust": "disgust", "pleasant_surprise": "surprise"},
        "cremad": {"neutral": "neutral", "happy": "happy", "sad": "sad", "anger": "angry",
                   "fear": "fear", "disgust": "disgust"},
        "savee": {"neutral": "neutral", "happiness": "happy", "sadness": "sad", "anger": "angry",
                  "fear": "fear", "disgust": "disgust", "surprise": "surprise"},
        "esd": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
                "surprise": "surprise"},
        "aesdd": {"happiness": "happy", "sadness": "sad", "anger": "angry", "fear": "fear",
                  "disgust": "disgust"},
        "seac": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "fear": "fear"},
        "generic": GENERIC_SYNONYMS,
    },
    notes={
        "ravdess": "calm dropped (not an Ekman class; seed 002 used 1,248 RAVDESS clips = 1,440 - 192 calm).",
        "emodb": "boredom dropped (not an Ekman class).",
        "iemocap": "excited merged into happy; frustrated, other and xxx (no majority) dropped.",
        "tess": "pleasant surprise mapped to surprise.",
        "emovo": "joy mapped to happy.",
        "cremad": "CREMA-D has no surprise.",
        "esd": "ESD has no fear or disgust.",
        "aesdd": "AESDD has no neutral or surprise.",
        "seac": "SEAC has no disgust or surprise.",
        "generic": "user labels matched by common synonyms; others (calm, boredom, ...) dropped.",
    },
)

# ----------------------------------------------------------------------------- iemocap4 v1

_FOUR = ("neutral", "happy", "sad", "angry")


def _restrict(table: Table, keep: Iterable[str]) -> dict[str, str | None]:
    keep = set(keep)
    return {n: (c if c in keep else None) for n, c in table.items()}


IEMOCAP4 = LabelSet(
    name="iemocap4",
    version=1,
    classes=_FOUR,
    description="neutral, happy (+excited), sad, angry: the usual 4-class IEMOCAP set (seeds 000, 004).",
    tables={corpus: _restrict(table, _FOUR) for corpus, table in EKMAN7.tables.items()},
    notes={
        "iemocap": "excited merged into happy (5,531 utterances); frustrated, fear, surprise, disgust, other, xxx dropped.",
        "ravdess": "calm dropped, as are fearful, disgust, surprised.",
        "emodb": "boredom, fear, disgust dropped.",
        "seac": "fear dropped (seed 000 used SEAC's 4 IEMOCAP emotions).",
        "emovo": "joy mapped to happy; fear, disgust, surprise dropped.",
        "tess": "fear, disgust, pleasant surprise dropped.",
        "esd": "surprise dropped.",
        "aesdd": "fear, disgust dropped; AESDD has no neutral.",
        "generic": "user labels matched by common synonyms; others dropped.",
    },
)

# ------------------------------------------------------------------------------- emodb7 v1

_EMODB7 = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
_EKMAN_TO_EMODB = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                   "sad": "sadness", "neutral": "neutral", "surprise": None}


def _to_emodb7(corpus: str, table: Table) -> dict[str, str | None]:
    if corpus == "emodb":
        return {n: n for n in _EMODB7}
    out = {n: (_EKMAN_TO_EMODB[c] if c is not None else None) for n, c in table.items()}
    if corpus == "generic":
        out.update({"boredom": "boredom", "bored": "boredom", "bor": "boredom"})
    return out


EMODB7 = LabelSet(
    name="emodb7",
    version=1,
    classes=_EMODB7,
    description="Emo-DB's seven classes (with boredom); other corpora mapped through ekman7.",
    tables={corpus: _to_emodb7(corpus, table) for corpus, table in EKMAN7.tables.items()},
    notes={
        "emodb": "Emo-DB's own labels, unchanged (the same task as native:emodb).",
        **{c: f"{n} Surprise dropped; no boredom."
           for c, n in EKMAN7.notes.items() if c not in ("emodb", "generic")},
        "generic": "user labels matched by common synonyms (boredom/bored too); others dropped.",
    },
)

_FIXED = {s.name: s for s in (EKMAN7, IEMOCAP4, EMODB7)}


def native_label_set(corpus: str, labels: Iterable[str] | None = None) -> LabelSet:
    """The corpus' own labels, unchanged. ``labels`` is needed for the generic corpus
    (its labels are whatever the user's folders or CSV say)."""
    from ser_core.data.registry import canonical_name

    corpus = canonical_name(corpus)
    if corpus == "generic":
        if labels is None:
            raise ConfigError("native:generic needs the labels found in the data.")
        classes = tuple(sorted(set(labels)))
    else:
        classes = _native_labels()[corpus]
    return LabelSet(name=f"native:{corpus}", version=1, classes=classes,
                    tables={corpus: {c: c for c in classes}},
                    description=f"{corpus}'s own labels, unchanged.",
                    notes={corpus: "nothing merged or dropped."})


def list_label_sets() -> list[str]:
    from ser_core.data.registry import list_corpora

    return list(_FIXED) + [f"native:{c}" for c in list_corpora()]


def get_label_set(name: str | LabelSet, labels: Iterable[str] | None = None) -> LabelSet:
    """A label set by name: ``ekman7``, ``iemocap4``, ``emodb7``, ``native:<corpus>`` (``@v1`` suffix allowed)."""
    if isinstance(name, LabelSet):
        return name
    key, _, version = name.strip().lower().partition("@")
    if key.startswith("native:"):
        found = native_label_set(key.split(":", 1)[1], labels)
    elif key in _FIXED:
        found = _FIXED[key]
    else:
        raise ConfigError(f"Unknown label set {name!r}; known: {', '.join(list_label_sets())}.")
    if version and version.lstrip("v") != str(found.version):
        raise ConfigError(f"Label set {found.name} is at version {found.version}, not {version}.")
    return found


@dataclass
class Mapped:
    """Utterances mapped to a label set: ``kept`` (with ``label`` set) and what was dropped."""

    label_set: LabelSet
    kept: list[Utterance]
    dropped: dict[str, dict[str, int]]  # corpus -> native label -> count

    def class_counts(self) -> dict[str, int]:
        c = Counter(u.label for u in self.kept)
        return {k: c.get(k, 0) for k in self.label_set.classes}


def apply_label_set(utterances: Iterable[Utterance], label_set: str | LabelSet) -> Mapped:
    """Set ``label`` on every utterance the set keeps; count the dropped ones per native label."""
    utterances = list(utterances)
    if isinstance(label_set, str) and label_set.strip().lower() == "native":
        corpora = sorted({u.corpus for u in utterances})
        if len(corpora) != 1:
            raise ConfigError("'native' labels need exactly one corpus; with several corpora use "
                              "a shared label set such as ekman7 or iemocap4.")
        label_set = f"native:{corpora[0]}"
    ls = get_label_set(label_set, labels=[u.emotion for u in utterances])
    kept, dropped = [], defaultdict(Counter)
    for u in utterances:
        cls = ls.map(u.corpus, u.emotion)
        if cls is None:
            dropped[u.corpus][u.emotion] += 1
        else:
            kept.append(u.with_label(cls))
    return Mapped(ls, kept, {c: dict(sorted(n.items())) for c, n in sorted(dropped.items())})
