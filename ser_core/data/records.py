"""The record every corpus loader produces, and the helpers loaders share.

An :class:`Utterance` is one audio file with what its corpus says about it: speaker,
gender, the corpus' own (native) emotion label and corpus-specific fields. A loader
returns a :class:`CorpusListing`: the utterances plus a report of every audio file it
skipped and why (a malformed tree never crashes a loader and never drops a file silently).

Identifiers are namespaced by corpus so that several corpora can be mixed safely:

- ``uid``: ``"<corpus>:<path relative to the corpus root, without extension>"``, e.g.
  ``"ravdess:Actor_07/03-01-03-01-02-01-07"``;
- ``speaker_key``: ``"<corpus>:<speaker>"``, e.g. ``"ravdess:07"``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

from ser_core.fswalk import walk_once

#: File name endings a loader treats as audio (compared case-insensitively). Anything
#: soundfile decodes; other files (label files, documentation) are not audio and are ignored.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64")


@dataclass(frozen=True)
class Utterance:
    """One utterance of a corpus.

    ``emotion`` is the corpus' native label, spelled as a word (``"fearful"`` for RAVDESS,
    ``"happiness"`` for Emo-DB). ``label`` is empty until the utterance is mapped to a
    label set (:func:`ser_core.data.labels.apply_label_set`), then it is that set's class.
    ``gender`` is ``"male"``, ``"female"`` or ``None`` when the corpus does not say.
    ``duration_s`` comes from the file header. ``extra`` holds corpus-specific fields
    (RAVDESS intensity/statement, Emo-DB text code, IEMOCAP session, ...).
    """

    uid: str
    path: str
    corpus: str
    speaker: str
    emotion: str
    gender: str | None = None
    duration_s: float | None = None
    label: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def speaker_key(self) -> str:
        """Speaker id namespaced by corpus (``"ravdess:07"``): unique across corpora."""
        return f"{self.corpus}:{self.speaker}"

    def with_label(self, label: str | None) -> "Utterance":
        return dataclasses.replace(self, label=label)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["extra"] = dict(self.extra)
        return d


class Skipped(NamedTuple):
    """An audio file (or label entry) a loader did not use, and the reason in words."""

    path: str
    reason: str


@dataclass
class CorpusListing:
    """What a loader found under a corpus root."""

    corpus: str
    root: str
    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def skip(self, path: str | Path, reason: str) -> None:
        self.skipped.append(Skipped(str(path), reason))

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    def by_emotion(self) -> dict[str, int]:
        return dict(sorted(Counter(u.emotion for u in self.utterances).items()))

    def by_speaker(self) -> dict[str, int]:
        return dict(sorted(Counter(u.speaker for u in self.utterances).items()))

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts (the ``datasets summary`` output)."""
        return {
            "corpus": self.corpus,
            "root": self.root,
            "files": len(self.utterances),
            "speakers": len(self.speakers),
            "by_emotion": self.by_emotion(),
            "by_speaker": self.by_speaker(),
            "by_gender": dict(sorted(Counter(u.gender or "unknown" for u in self.utterances).items())),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


# ----------------------------------------------------------------------------- helpers

def is_audio_name(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS)


def iter_audio_files(root: Path, listing: CorpusListing | None = None) -> list[Path]:
    """Every audio file under ``root`` (recursive, sorted; symlinked folders are followed,
    each real folder once).

    Hidden files (``.foo.wav``, macOS ``._foo.wav`` resource forks) are not audio of the
    corpus; they are reported in ``listing.skipped`` when a listing is given.
    """
    found = []
    for here, _, filenames in walk_once(root):
        hidden_dir = any(part.startswith(".") for part in here.relative_to(root).parts)
        for name in filenames:
            if not is_audio_name(name):
                continue
            path = here / name
            if hidden_dir or name.startswith("."):
                if listing is not None:
                    listing.skip(path, "hidden file (name starts with '.'), not part of the corpus")
                continue
            if path.is_file():
                found.append(path)
    return sorted(found)


def stem(path: Path) -> str:
    """File name without its audio extension (``03a01Fa.flac`` -> ``03a01Fa``)."""
    name = path.name
    lower = name.lower()
    for ext in AUDIO_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def make_uid(corpus: str, root: Path, path: Path) -> str:
    rel = path.relative_to(root)
    return f"{corpus}:{(rel.parent / stem(rel)).as_posix()}"


def audio_duration(path: Path) -> tuple[float | None, str | None]:
    """``(duration_s, None)`` from the header, or ``(None, reason)`` if it is not readable audio."""
    import soundfile as sf

    try:
        if path.stat().st_size == 0:
            return None, "empty file (0 bytes)"
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types for bad files
        return None, f"unreadable audio ({type(exc).__name__}: {exc})".replace("\n", " ")
    if info.samplerate <= 0 or info.frames <= 0:
        return None, "audio file contains no samples"
    return info.frames / float(info.samplerate), None


def add_utterance(listing: CorpusListing, root: Path, path: Path, *, speaker: str, emotion: str,
                  gender: str | None = None, extra: Mapping[str, Any] | None = None,
                  check_audio: bool = True, name: str | None = None) -> Utterance | None:
    """Append an utterance for ``path`` (after checking its header), or report it skipped.

    ``name``: a corpus-wide unique utterance name; the uid is then ``<corpus>:<name>``
    (independent of where the user put the files). Without it, the uid is the path relative
    to the corpus root without extension.
    """
    duration = None
    if check_audio:
        duration, problem = audio_duration(path)
        if problem:
            listing.skip(path, problem)
            return None
    utt = Utterance(
        uid=f"{listing.corpus}:{name}" if name else make_uid(listing.corpus, root, path), path=str(path), corpus=listing.corpus,
        speaker=speaker, emotion=emotion, gender=gender,
        duration_s=None if duration is None else round(duration, 6), extra=dict(extra or {}),
    )
    listing.utterances.append(utt)
    return utt


def check_unique_uids(listing: CorpusListing) -> None:
    """Two files differing only by extension (``x.wav`` and ``x.flac``) would share a uid:
    keep the first, report the others."""
    seen: set[str] = set()
    kept = []
    for u in listing.utterances:
        if u.uid in seen:
            listing.skip(u.path, f"another file with the same name (uid {u.uid}) was already listed")
            continue
        seen.add(u.uid)
        kept.append(u)
    listing.utterances = kept


def count(items: Iterable[Utterance], attr: str) -> dict[str, int]:
    return dict(sorted(Counter(getattr(u, attr) for u in items).items()))
