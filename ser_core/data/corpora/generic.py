"""A user's own data: one folder per emotion, or a CSV of path,label[,speaker[,gender]].

Folder layout (``root`` is the folder)::

    root/angry/*.wav                 speaker unknown
    root/angry/<speaker>/*.wav       speaker from the sub-folder
    root/<speaker>/angry/*.wav       accepted when the first level is not an emotion word
                                     and the second is (neutral, happy, sad, angry, ...)

CSV layout: ``root`` is a ``.csv`` file, or a folder holding ``labels.csv``. The first row
is a header naming the columns (``path``/``file``, ``label``/``emotion``, optional
``speaker``, ``gender``); without a recognisable header the columns are taken in the order
path, label, speaker, gender. Relative paths are relative to the CSV's folder.

Labels are the user's words, lower-cased (``Angry`` -> ``angry``). Without speakers every
file gets the speaker ``unknown``: speaker-independent splits then refuse to run and say
why (add a speaker column or speaker sub-folders).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, is_audio_name, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "generic"
UNKNOWN_SPEAKER = "unknown"
CSV_NAMES = ("labels.csv",)

#: Words recognised as emotion folder names when deciding the folder order.
EMOTION_WORDS = {
    "neutral", "calm", "happy", "happiness", "joy", "sad", "sadness", "angry", "anger", "fear",
    "fearful", "afraid", "disgust", "disgusted", "surprise", "surprised", "boredom", "bored",
    "excited", "frustrated", "contempt", "pleasant_surprise", "ps",
}

INFO = CorpusInfo(
    name=NAME,
    title="Your own recordings (generic layout)",
    language="any",
    native_labels=(),
    layout="root/<emotion>/[<speaker>/]*.wav, or a CSV path,label[,speaker[,gender]]",
    notes=("Labels are whatever the folders/CSV say; map them with the generic table of a label set.",),
)

PATH_COLS = ("path", "file", "filename", "file_path", "filepath", "wav", "audio")
LABEL_COLS = ("label", "emotion", "class", "category")


def normalise_label(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


def _uid(root: Path, path: Path) -> str:
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(*path.parts[1:]) if path.is_absolute() else path
    return (rel.parent / stem(rel)).as_posix()


def _gender(value: str) -> str | None:
    v = value.strip().lower()
    return "male" if v in ("m", "male", "man") else "female" if v in ("f", "female", "woman", "w") else None


def _load_csv(csv_path: Path, check_audio: bool) -> CorpusListing:
    base = csv_path.parent
    listing = CorpusListing(NAME, str(csv_path))
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        listing.skip(csv_path, "the CSV file is empty")
        return listing
    header = [c.strip().lower() for c in rows[0]]
    if any(c in PATH_COLS for c in header) and any(c in LABEL_COLS for c in header):
        col = {"path": next(header.index(c) for c in PATH_COLS if c in header),
               "label": next(header.index(c) for c in LABEL_COLS if c in header)}
        for key in ("speaker", "gender"):
            if key in header:
                col[key] = header.index(key)
        body = rows[1:]
        first_line = 2
    else:
        col = {"path": 0, "label": 1, "speaker": 2, "gender": 3}
        body = rows
        first_line = 1
    seen: set[Path] = set()
    for lineno, row in enumerate(body, start=first_line):
        def cell(key: str) -> str:
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""
        raw_path, label = cell("path"), cell("label")
        where = f"{csv_path.name}:{lineno}"
        if not raw_path:
            listing.skip(where, "row has no path")
            continue
        path = Path(raw_path).expanduser()
        path = path if path.is_absolute() else base / path
        if not label:
            listing.skip(path, f"{where}: row has no label")
            continue
        if not path.is_file():
            listing.skip(path, f"{where}: file not found")
            continue
        if not is_audio_name(path.name):
            listing.skip(path, f"{where}: not an audio file name (.wav, .flac, .ogg, .mp3, .aif)")
            continue
        resolved = path.resolve()
        if resolved in seen:
            listing.skip(path, f"{where}: the same file is listed twice; the first row is kept")
            continue
        seen.add(resolved)
        speaker = cell("speaker") or UNKNOWN_SPEAKER
        add_utterance(listing, base, path, speaker=speaker, emotion=normalise_label(label),
                      gender=_gender(cell("gender")), extra={"csv_line": lineno},
                      check_audio=check_audio, name=_uid(base, path))
    return listing


def _load_folders(root: Path, check_audio: bool) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        parts = path.relative_to(root).parts[:-1]
        if not parts:
            listing.skip(path, "lies directly in the root; put it in a folder named after its emotion")
            continue
        first = normalise_label(parts[0])
        second = normalise_label(parts[1]) if len(parts) > 1 else None
        if second and first not in EMOTION_WORDS and second in EMOTION_WORDS:
            emotion, speaker = second, parts[0]
        else:
            emotion, speaker = first, (parts[1] if len(parts) > 1 else UNKNOWN_SPEAKER)
        add_utterance(listing, root, path, speaker=speaker, emotion=emotion, gender=None,
                      check_audio=check_audio)
    return listing


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    if root.is_file():
        return _load_csv(root, check_audio)
    for name in CSV_NAMES:
        if (root / name).is_file():
            return _load_csv(root / name, check_audio)
    return _load_folders(root, check_audio)
