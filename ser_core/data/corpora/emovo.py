"""EMOVO, Italian emotional speech (Costantini et al., LREC 2014).

Layout as published: ``<speaker>/<emo>-<speaker>-<sentence>.wav``, speakers f1-f3 (female)
and m1-m3 (male). Emotion codes (Italian): dis disgust (disgusto), gio joy (gioia),
neu neutral, pau fear (paura), rab anger (rabbia), sor surprise (sorpresa),
tri sadness (tristezza). Sentence codes: b1-b3, d1-d2, l1-l4, n1-n5 (14 sentences).
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "emovo"

EMOTIONS = {"dis": "disgust", "gio": "joy", "neu": "neutral", "pau": "fear", "rab": "anger",
            "sor": "surprise", "tri": "sadness"}
SENTENCES = {f"{p}{i}" for p, n in (("b", 3), ("d", 2), ("l", 4), ("n", 5)) for i in range(1, n + 1)}

INFO = CorpusInfo(
    name=NAME,
    title="EMOVO Corpus: an Italian Emotional Speech Database",
    language="it",
    native_labels=tuple(EMOTIONS.values()),
    layout="<speaker>/<emo>-<speaker>-<sentence>.wav (speakers f1-f3, m1-m3)",
    citation=("Costantini G, Iadarola I, Paoloni A, Todisco M (2014) EMOVO Corpus: an Italian Emotional "
              "Speech Database. Proc. LREC 2014, Reykjavik, ELRA."),
    license="research use with citation (no license stated by the authors)",
    notes=("6 actors (3 f / 3 m), 14 sentences x 7 states = 588 utterances.",),
)

NAME_RE = re.compile(r"^([a-z]{3})-([fm][1-9])-([a-z]\d)$", re.IGNORECASE)


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    for path in iter_audio_files(root, listing):
        m = NAME_RE.match(stem(path))
        if not m:
            listing.skip(path, "name is not an EMOVO name (<emo>-<speaker>-<sentence>, e.g. rab-f1-b1)")
            continue
        emo, speaker, sentence = (g.lower() for g in m.groups())
        if emo not in EMOTIONS:
            listing.skip(path, f"unknown emotion code {emo} ({', '.join(EMOTIONS)})")
            continue
        if sentence not in SENTENCES:
            listing.skip(path, f"unknown sentence code {sentence}")
            continue
        folder = path.parent.name.lower()
        if re.fullmatch(r"[fm]\d", folder) and folder != speaker:
            listing.skip(path, f"file names speaker {speaker} but lies in folder {path.parent.name}")
            continue
        add_utterance(listing, root, path, speaker=speaker, emotion=EMOTIONS[emo],
                      gender="female" if speaker[0] == "f" else "male", check_audio=check_audio,
                      name=f"{emo}-{speaker}-{sentence}",
                      extra={"sentence": sentence, "emotion_code": emo})
    return listing
