"""TESS, Toronto Emotional Speech Set (Dupuis & Pichora-Fuller 2010).

Layout as published (Scholars Portal Dataverse, also the Kaggle copy): one folder per
speaker and emotion, ``OAF_angry/OAF_back_angry.wav``: ``<speaker>_<word>_<emotion>``.
Two female speakers: OAF (older adult female, 64 y) and YAF (younger adult female, 26 y),
200 target words in the carrier phrase "Say the word ...", 7 emotions: angry, disgust,
fear, happy, neutral, ps (pleasant surprise), sad; 2,800 files.

Awkward cases handled: folder names vary in case and spelling between copies
(``OAF_Fear``, ``YAF_pleasant_surprised``, ``OAF_Pleasant_surprise``); the file name is
authoritative, a folder that contradicts it makes the file skipped (reported); a file whose
name does not parse but which sits in a ``<speaker>_<emotion>`` folder takes the folder's
labels.
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "tess"

EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
            "neutral": "neutral", "ps": "pleasant_surprise", "sad": "sad"}
# Folder spellings seen in circulating copies -> native label.
FOLDER_EMOTIONS = {**EMOTIONS, "pleasant_surprise": "pleasant_surprise",
                   "pleasant_surprised": "pleasant_surprise", "pleasantsurprise": "pleasant_surprise",
                   "surprise": "pleasant_surprise", "surprised": "pleasant_surprise",
                   "anger": "angry", "fearful": "fear", "happiness": "happy", "sadness": "sad",
                   "disgusted": "disgust"}
SPEAKERS = {"OAF": 64, "YAF": 26}

INFO = CorpusInfo(
    name=NAME,
    title="Toronto Emotional Speech Set (TESS)",
    language="en",
    native_labels=tuple(dict.fromkeys(EMOTIONS.values())),
    layout="<SPK>_<emotion>/<SPK>_<word>_<emotion>.wav, SPK in OAF, YAF; emotion ps = pleasant surprise",
    citation=("Dupuis K, Pichora-Fuller MK (2010) Toronto emotional speech set (TESS). University of "
              "Toronto, Psychology Department. https://doi.org/10.5683/SP2/E8H2MF"),
    license="CC BY-NC-ND 4.0",
    notes=("2 female speakers x 200 words x 7 emotions = 2,800 files.",),
)

NAME_RE = re.compile(r"^(OAF|YAF)_(.+)_([A-Za-z]+)$", re.IGNORECASE)
FOLDER_RE = re.compile(r"^(OAF|YAF)_(.+)$", re.IGNORECASE)


def _folder_emotion(folder: str) -> tuple[str, str] | None:
    m = FOLDER_RE.match(folder)
    if not m:
        return None
    emo = re.sub(r"[\s\-]+", "_", m.group(2).strip().lower())
    if emo not in FOLDER_EMOTIONS:
        return None
    return m.group(1).upper(), FOLDER_EMOTIONS[emo]


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        name = stem(path)
        folder = _folder_emotion(path.parent.name)
        m = NAME_RE.match(name)
        parsed = None
        if m and m.group(3).lower() in EMOTIONS:
            parsed = (m.group(1).upper(), EMOTIONS[m.group(3).lower()], m.group(2).lower())
        if parsed is None and folder is None:
            listing.skip(path, "name is not a TESS name (OAF|YAF_<word>_<emotion>) and the folder does not say")
            continue
        if parsed and folder and parsed[:2] != folder:
            listing.skip(path, f"name says {parsed[0]}/{parsed[1]} but folder {path.parent.name} "
                               f"says {folder[0]}/{folder[1]}")
            continue
        speaker, emotion = (parsed or folder)[:2]
        extra = {"age": SPEAKERS[speaker], "label_source": "file name" if parsed else "folder name"}
        if parsed:
            extra["word"] = parsed[2]
            extra["text"] = f"Say the word {parsed[2]}"
        add_utterance(listing, root, path, speaker=speaker, emotion=emotion, gender="female",
                      extra=extra, check_audio=check_audio, name=name if parsed else None)
    return listing
