"""SAVEE, Surrey Audio-Visual Expressed Emotion (Haq & Jackson 2009).

Layout as published: ``AudioData/<SPK>/<emotion><NN>.wav``, four male speakers DC, JE, JK,
KL; emotion prefix a anger, d disgust, f fear, h happiness, n neutral, sa sadness,
su surprise; 15 sentences per emotion, 30 for neutral: 120 per speaker, 480 in all.
The flat layout of some copies (``DC_a01.wav``) is read too. ``AudioData/Info.txt`` is
documentation, not audio.
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "savee"

EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral",
            "sa": "sadness", "su": "surprise"}
SPEAKERS = ("DC", "JE", "JK", "KL")

INFO = CorpusInfo(
    name=NAME,
    title="Surrey Audio-Visual Expressed Emotion (SAVEE)",
    language="en",
    native_labels=tuple(EMOTIONS.values()),
    layout="AudioData/<SPK>/<emo><NN>.wav (SPK in DC, JE, JK, KL; emo a d f h n sa su), or flat <SPK>_<emo><NN>.wav",
    citation=("Haq S, Jackson PJB (2009) Speaker-dependent audio-visual emotion recognition. Proc. "
              "AVSP 2009, 53-58."),
    license="free for research use (registration with the authors)",
    notes=("4 male speakers, 480 utterances.",),
)

CODE_RE = re.compile(r"^(sa|su|a|d|f|h|n)(\d{2})$")
FLAT_RE = re.compile(r"^([A-Z]{2})_(\w+)$")


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        name = stem(path)
        flat = FLAT_RE.match(name)
        if flat:
            speaker, code = flat.groups()
        else:
            speaker, code = path.parent.name.upper(), name
        m = CODE_RE.match(code)
        if speaker not in SPEAKERS:
            listing.skip(path, "no SAVEE speaker (DC, JE, JK, KL) in the folder or file name")
            continue
        if not m:
            listing.skip(path, "name is not a SAVEE name (<emo><NN>: a d f h n sa su)")
            continue
        if flat and path.parent.name.upper() in SPEAKERS and path.parent.name.upper() != speaker:
            listing.skip(path, f"file names speaker {speaker} but lies in folder {path.parent.name}")
            continue
        emo, number = m.groups()
        add_utterance(listing, root, path, speaker=speaker, emotion=EMOTIONS[emo], gender="male",
                      extra={"sentence": int(number), "emotion_code": emo},
                      check_audio=check_audio, name=f"{speaker}_{code}")
    return listing
