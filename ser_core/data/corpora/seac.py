"""SEAC, Serbian Emotional Amateur Cellphone Speech Corpus (Suzić et al. 2022).

What is documented (seed 000 §4.2 and the corpus paper): 53 speakers (24 male, 29 female),
5 emotional states (neutral, happiness, sadness, fear, anger), about 8 hours, 10,357
utterances recorded on cellphones at 44.1 kHz, sentences taken from the GEES corpus.
Neither document publishes a file-naming scheme, so this loader reads the layout the
corpus is distributed in by speaker and emotion folders, in either order::

    <speaker>/<emotion>/<anything>.wav      or      <emotion>/<speaker>/<anything>.wav

Emotion folders are recognised in English or Serbian (Latin script, with or without
diacritics): neutral / neutralno; happy / happiness / sreca / sreća / radost; sad / sadness
/ tuga; angry / anger / ljutnja / bes / bijes; fear / strah. Gender is taken from
``speakers.csv`` (``speaker,gender``) at the root when present, else from a speaker folder
name starting with M/m (male) or F/f/Z/z/Ž/ž (female), else None. If a copy is laid out
differently, the generic loader with a CSV (path,label,speaker) reads it.

Seed 000 used the 4 emotions of IEMOCAP (fear dropped) and only the speakers with all four
(25 speakers, 6,054 utterances): :func:`ser_core.data.selection.complete_speakers`.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files
from ser_core.data.registry import CorpusInfo

NAME = "seac"

FOLDERS = {
    "neutral": "neutral", "neutralno": "neutral", "neutralna": "neutral",
    "happy": "happy", "happiness": "happy", "sreca": "happy", "radost": "happy",
    "sad": "sad", "sadness": "sad", "tuga": "sad", "tuzno": "sad",
    "angry": "angry", "anger": "angry", "ljutnja": "angry", "bes": "angry", "bijes": "angry",
    "fear": "fear", "strah": "fear",
}

INFO = CorpusInfo(
    name=NAME,
    title="Serbian Emotional Amateur Cellphone Speech Corpus (SEAC)",
    language="sr",
    native_labels=("neutral", "happy", "sad", "angry", "fear"),
    layout="<speaker>/<emotion>/*.wav or <emotion>/<speaker>/*.wav (English or Serbian emotion names)",
    citation=("Suzić S, Nosek T, Sečujski M, Popović B, Krstanović L, Vujović M, Simić N, Janev M, "
              "Jakovljević N, Delić V (2022) SEAC: Serbian Emotional Amateur Cellphone Speech Corpus. "
              "Language Resources and Evaluation. doi:10.21203/rs.3.rs-2062055/v1"),
    license="research use (University of Novi Sad, Faculty of Technical Sciences)",
    notes=("53 speakers (24 m / 29 f), 5 emotions, 10,357 utterances, 44.1 kHz.",
           "File naming is not published; folder layout assumed (see module docstring)."),
)


def _fold(name: str) -> str:
    """Lower case, diacritics removed (sreća -> sreca, Ž -> z)."""
    norm = unicodedata.normalize("NFKD", name.strip().lower())
    return "".join(c for c in norm if not unicodedata.combining(c)).replace("đ", "dj")


def _gender_table(root: Path) -> dict[str, str]:
    path = root / "speakers.csv"
    if not path.is_file():
        return {}
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            spk, g = (row.get("speaker") or "").strip(), _fold(row.get("gender") or "")
            if spk and g:
                out[spk] = "male" if g[0] == "m" else "female" if g[0] in "fz" else None
    return out


def _gender_from_name(speaker: str) -> str | None:
    first = _fold(speaker)[:1]
    m = re.match(r"^[a-z]+", _fold(speaker))
    word = m.group(0) if m else ""
    if first == "m" and len(word) <= 2:
        return "male"
    if first in ("f", "z") and len(word) <= 2:
        return "female"
    return None


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    genders = _gender_table(root)
    for path in iter_audio_files(root, listing):
        parts = path.relative_to(root).parts[:-1]
        if len(parts) < 2:
            listing.skip(path, "not inside <speaker>/<emotion>/ (or <emotion>/<speaker>/) folders")
            continue
        a, b = parts[-2], parts[-1]
        if _fold(b) in FOLDERS and _fold(a) not in FOLDERS:
            speaker, emotion = a, FOLDERS[_fold(b)]
        elif _fold(a) in FOLDERS and _fold(b) not in FOLDERS:
            speaker, emotion = b, FOLDERS[_fold(a)]
        else:
            listing.skip(path, f"cannot tell speaker from emotion in folders {a}/{b} "
                               f"(emotion folders: {', '.join(sorted(set(FOLDERS)))})")
            continue
        gender = genders.get(speaker) or _gender_from_name(speaker)
        add_utterance(listing, root, path, speaker=speaker, emotion=emotion, gender=gender,
                      extra={"emotion_folder": b if emotion == FOLDERS.get(_fold(b)) else a},
                      check_audio=check_audio)
    return listing
