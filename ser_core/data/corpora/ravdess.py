"""RAVDESS, speech part (Livingstone & Russo 2018).

Layout as published: ``Actor_XX/03-01-EE-II-SS-RR-AA.wav`` (the flat layout of some copies,
all files in one folder, works too). Name fields, as the authors define them:

- modality 01 full-AV, 02 video-only, 03 audio-only (only 03 is audio);
- vocal channel 01 speech, 02 song;
- emotion 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust,
  08 surprised;
- intensity 01 normal, 02 strong (there is no strong neutral);
- statement 01 "Kids are talking by the door", 02 "Dogs are sitting by the door";
- repetition 01/02; actor 01-24, odd numbers male, even female.

Speaker = the two-digit actor number (``"07"``). Song files (vocal channel 02) are listed
only with ``include_song=True``; otherwise they appear in the skipped report.
Known quirk: ``Actor_07/03-01-03-01-02-01-07`` and ``...-02-02-07`` hold identical audio;
:mod:`ser_core.data.duplicates` finds such pairs by content, and the splits keep them together.
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "ravdess"

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}
INTENSITY = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CHANNELS = {"01": "speech", "02": "song"}
# Song has no disgust/surprised, but that is the corpus' business, not a parse error.

INFO = CorpusInfo(
    name=NAME,
    title="RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), speech",
    language="en",
    native_labels=tuple(EMOTIONS.values()),
    layout="Actor_XX/03-01-EE-II-SS-RR-AA.wav (modality-channel-emotion-intensity-statement-repetition-actor)",
    citation=("Livingstone SR, Russo FA (2018) The Ryerson Audio-Visual Database of Emotional Speech "
              "and Song (RAVDESS). PLoS ONE 13(5): e0196391. https://doi.org/10.1371/journal.pone.0196391"),
    license="CC BY-NC-SA 4.0",
    notes=("24 actors (12 f / 12 m), 60 speech files each: 1440.",
           "Actor_07/03-01-03-01-02-01-07 and 03-01-03-01-02-02-07 are identical audio."),
)

NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
ACTOR_DIR_RE = re.compile(r"^Actor_(\d{2})$", re.IGNORECASE)


def load(root: Path, *, check_audio: bool = True, include_song: bool = False) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        m = NAME_RE.match(stem(path))
        if not m:
            listing.skip(path, "name is not a RAVDESS name (MM-VV-EE-II-SS-RR-AA)")
            continue
        modality, channel, emo, intensity, statement, repetition, actor = m.groups()
        if modality != "03":
            listing.skip(path, f"modality {modality} is not audio-only (03)")
            continue
        if channel not in CHANNELS:
            listing.skip(path, f"unknown vocal channel {channel} (01 speech, 02 song)")
            continue
        if channel == "02" and not include_song:
            listing.skip(path, "song file (vocal channel 02); only speech is listed (include_song=True to add)")
            continue
        if emo not in EMOTIONS:
            listing.skip(path, f"unknown emotion code {emo} (01-08)")
            continue
        if intensity not in INTENSITY:
            listing.skip(path, f"unknown intensity code {intensity} (01 normal, 02 strong)")
            continue
        if emo == "01" and intensity == "02":
            listing.skip(path, "strong-intensity neutral does not exist in RAVDESS")
            continue
        if statement not in STATEMENTS or repetition not in ("01", "02"):
            listing.skip(path, f"unknown statement {statement} or repetition {repetition}")
            continue
        if not 1 <= int(actor) <= 24:
            listing.skip(path, f"actor {actor} is outside 01-24")
            continue
        folder = ACTOR_DIR_RE.match(path.parent.name)
        if folder and folder.group(1) != actor:
            listing.skip(path, f"file names actor {actor} but lies in folder {path.parent.name}")
            continue
        add_utterance(
            listing, root, path, speaker=actor, emotion=EMOTIONS[emo],
            gender="male" if int(actor) % 2 else "female", check_audio=check_audio, name=stem(path),
            extra={"modality": "audio-only", "vocal_channel": CHANNELS[channel],
                   "intensity": INTENSITY[intensity], "statement": statement,
                   "text": STATEMENTS[statement], "repetition": int(repetition),
                   "emotion_code": emo},
        )
    return listing
