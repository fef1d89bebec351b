"""Which corpus a folder the user points at holds, via the data layer's loaders.

The data layer loads a corpus when told its name; the app lets a person point at any folder.
:func:`open_corpus` tries every registered loader (headers not read, so it is fast) and keeps
the one that recognises the most files; a folder none recognises falls back to the generic
layout (one folder per emotion / a CSV), and finally to a plain list of audio files.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from ser_core.data import CorpusListing, list_corpora, load_corpus
from ser_core.data.records import AUDIO_EXTENSIONS
from ser_core.errors import DatasetError, SerError
from ser_core.sandbox import AccessError, check_path


def subfolders(root: str | Path) -> list[str]:
    """Sub-folders of ``root`` that are themselves recognised corpora (e.g. ``../shared/data``);
    none for a folder outside the allowed roots (:mod:`ser_core.sandbox`)."""
    try:
        root = check_path(root)
    except AccessError:
        return []
    if not root.is_dir():
        return []
    names = set(list_corpora()) - {"generic"}
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.lower() in names)


def guess_corpus(root: str | Path) -> tuple[str, CorpusListing] | None:
    """``(corpus name, listing)`` of the loader that recognises the most files, or None.
    A folder outside the allowed roots raises :class:`~ser_core.sandbox.AccessError`."""
    root = check_path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder on this machine.")
    best: tuple[str, CorpusListing] | None = None
    candidates = [n for n in list_corpora() if n != "generic"]
    if root.name.lower() in candidates:  # the folder is named after its corpus: try it first
        candidates.remove(root.name.lower())
        candidates.insert(0, root.name.lower())
    for name in candidates + ["generic"]:
        if name == "generic" and best is not None:
            break
        try:
            listing = load_corpus(name, root, check_audio=False)
        except SerError:
            continue
        if len(listing) and (best is None or len(listing) > len(best[1])):
            best = (name, listing)
    return best


def list_clips(root: str | Path, limit: int = 20000) -> tuple[list[tuple[str, str | None, str | None]], str]:
    """``([(path, emotion or None, speaker or None)], a sentence saying what was found)``.

    Only under the allowed roots; the plain listing stops after ``limit`` audio files (so a
    huge folder is never walked to its end)."""
    root = check_path(root)
    found = guess_corpus(root)
    if found is not None:
        name, listing = found
        clips = [(u.path, u.emotion, u.speaker) for u in listing.utterances[:limit]]
        return clips, (f"Recognised as **{name}**: {len(listing)} files, {len(listing.speakers)} "
                       f"speakers, emotions {', '.join(listing.by_emotion())}.")
    audio = (p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    files = sorted(str(p) for p in itertools.islice(audio, limit))
    return [(f, None, None) for f in files], f"{len(files)} audio files (layout not recognised: no labels)."
