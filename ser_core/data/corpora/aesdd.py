"""AESDD, Acted Emotional Speech Dynamic Database (Vryzas et al. 2018), Greek.

Layout as published: one folder per emotion (``anger/``, ``disgust/``, ``fear/``,
``happiness/``, ``sadness/``) holding files ``<e><NN> (<S>).wav``: emotion initial
(a d f h s), utterance number, actor number in parentheses, e.g. ``a01 (1).wav``. Some
copies have retakes with a letter after the parenthesis (``a01 (1)b.wav``), kept with
``take`` in extra. Five actors; the tree does not encode gender (``None``).
A file whose initial contradicts its emotion folder is skipped and reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "aesdd"

EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}
FOLDERS = {**{v: v for v in EMOTIONS.values()}, "angry": "anger", "happy": "happiness",
           "sad": "sadness", "disgusted": "disgust"}

INFO = CorpusInfo(
    name=NAME,
    title="Acted Emotional Speech Dynamic Database (AESDD)",
    language="el",
    native_labels=tuple(EMOTIONS.values()),
    layout="<emotion>/<e><NN> (<actor>).wav, e.g. anger/a01 (1).wav",
    citation=("Vryzas N, Kotsakis R, Liatsou A, Dimoulas C, Kalliris G (2018) Speech emotion "
              "recognition for performance interaction. J. Audio Eng. Soc. 66(6): 457-467."),
    license="free for research use (authors' terms)",
    notes=("5 actors, 5 emotions, 20 utterances each, some repeated takes.",),
)

NAME_RE = re.compile(r"^([adfhs])(\d{2})\s*\((\d+)\)\s*([a-z]?)$", re.IGNORECASE)


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        name = stem(path)
        m = NAME_RE.match(name)
        if not m:
            listing.skip(path, "name is not an AESDD name (<e><NN> (<actor>), e.g. a01 (1))")
            continue
        letter, number, actor, take = m.group(1).lower(), int(m.group(2)), m.group(3), m.group(4).lower()
        emotion = EMOTIONS[letter]
        folder = FOLDERS.get(path.parent.name.lower())
        if folder and folder != emotion:
            listing.skip(path, f"initial {letter!r} means {emotion} but the file lies in folder {path.parent.name}")
            continue
        extra = {"utterance": number, "emotion_code": letter}
        if take:
            extra["take"] = take
        add_utterance(listing, root, path, speaker=str(int(actor)), emotion=emotion, gender=None,
                      extra=extra, check_audio=check_audio,
                      name=f"{letter}{number:02d} ({int(actor)}){take}")
    return listing
