"""CREMA-D, Crowd-sourced Emotional Multimodal Actors Dataset (Cao et al. 2014).

Layout as published: ``AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Level>.wav`` and
``VideoDemographics.csv`` (ActorID, Age, Sex, Race, Ethnicity) at the root. 91 actors
(1001-1091), 12 sentences, 6 emotions (ANG anger, DIS disgust, FEA fear, HAP happy,
NEU neutral, SAD sad), level LO / MD / HI / XX (unspecified); 7,442 clips.

Gender and age come from ``VideoDemographics.csv`` when it is present (else ``None``).
Awkward cases: a level written ``X`` instead of ``XX`` is read as unspecified; empty or
corrupt clips are reported as skipped by the header check.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "cremad"

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral",
            "SAD": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.", "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.", "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.", "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.", "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.", "WSI": "We'll stop in a couple of minutes.",
}

INFO = CorpusInfo(
    name=NAME,
    aliases=("crema-d", "crema"),
    title="CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset)",
    language="en",
    native_labels=tuple(EMOTIONS.values()),
    layout="AudioWAV/<ActorID>_<Sentence>_<Emotion>_<Level>.wav + VideoDemographics.csv",
    citation=("Cao H, Cooper DG, Keutmann MK, Gur RC, Nenkova A, Verma R (2014) CREMA-D: Crowd-sourced "
              "Emotional Multimodal Actors Dataset. IEEE Trans. Affective Computing 5(4): 377-390."),
    license="Open Database License (ODbL) / Database Contents License",
    notes=("91 actors (48 m / 43 f), 7,442 clips.",),
)

NAME_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")


def _demographics(root: Path) -> dict[str, dict]:
    for path in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"):
        if path.is_file():
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return {row["ActorID"].strip(): row for row in csv.DictReader(fh) if row.get("ActorID")}
    return {}


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    demo = _demographics(root)
    for path in iter_audio_files(root, listing):
        name = stem(path)
        m = NAME_RE.match(name)
        if not m:
            listing.skip(path, "name is not a CREMA-D name (ActorID_Sentence_Emotion_Level)")
            continue
        actor, sentence, emo, level = m.groups()
        if emo not in EMOTIONS:
            listing.skip(path, f"unknown emotion code {emo} ({', '.join(EMOTIONS)})")
            continue
        if sentence not in SENTENCES:
            listing.skip(path, f"unknown sentence code {sentence}")
            continue
        if level not in LEVELS:
            listing.skip(path, f"unknown level {level} (LO, MD, HI, XX)")
            continue
        gender = None
        extra = {"sentence": sentence, "text": SENTENCES[sentence], "level": LEVELS[level],
                 "emotion_code": emo}
        row = demo.get(actor)
        if row:
            sex = (row.get("Sex") or "").strip().lower()
            gender = sex if sex in ("male", "female") else None
            if (row.get("Age") or "").strip().isdigit():
                extra["age"] = int(row["Age"])
        add_utterance(listing, root, path, speaker=actor, emotion=EMOTIONS[emo], gender=gender,
                      extra=extra, check_audio=check_audio, name=name)
    return listing
