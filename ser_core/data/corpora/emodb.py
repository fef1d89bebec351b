"""Berlin Emo-DB (Burkhardt et al., Interspeech 2005).

Layout as published: ``wav/SSTTTEV.wav`` plus label folders (``lablaut/``, ``labsilb/``,
``silb/``) and the perception-test results ``erkennung.txt``. The audio may also sit
directly in the root. Name fields, as the authors define them:

- SS speaker: 03 m 31 y, 08 f 34, 09 f 21, 10 m 32, 11 m 26, 12 m 30, 13 f 32, 14 f 35,
  15 m 25, 16 f 31;
- TTT text code (a01, a02, a04, a05, a07, b01, b02, b03, b09, b10);
- E emotion, German initial: W anger (Wut), L boredom (Langeweile), E disgust (Ekel),
  A fear (Angst), F happiness (Freude), T sadness (Trauer), N neutral;
- V version letter (a, b, c, ...).

Extra fields: ``text_code``, ``text`` (the German sentence), ``version``, ``age`` and, when
``erkennung.txt`` is present, ``recognition_pct`` / ``naturalness_pct`` from the authors'
listening test (20 listeners).
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "emodb"

EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
            "T": "sadness", "N": "neutral"}
SPEAKERS = {  # id: (gender, age)
    "03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32),
    "11": ("male", 26), "12": ("male", 30), "13": ("female", 32), "14": ("female", 35),
    "15": ("male", 25), "16": ("female", 31),
}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

INFO = CorpusInfo(
    name=NAME,
    aliases=("emo-db", "emo_db"),
    title="Berlin Database of Emotional Speech (Emo-DB)",
    language="de",
    native_labels=tuple(EMOTIONS.values()),
    layout="wav/SSTTTEV.wav (speaker, text code, emotion initial, version)",
    citation=("Burkhardt F, Paeschke A, Rolfes M, Sendlmeier WF, Weiss B (2005) A Database of German "
              "Emotional Speech. Proc. Interspeech 2005, 1517-1520. doi:10.21437/Interspeech.2005-446"),
    license="research use with citation (no formal license on the authors' site)",
    notes=("10 actors (5 f / 5 m), 535 utterances.",),
)

NAME_RE = re.compile(r"^(\d{2})([ab]\d{2})([A-Z])([a-z])$")
ERKENNUNG_RE = re.compile(r"^\s*\d+\s+(\w+)\.wav\s+([\d,\.]+)\s+([\d,\.]+)\s*$")


def _perception(root: Path) -> dict[str, tuple[float, float]]:
    """Recognition and naturalness rates (percent) per file from ``erkennung.txt``."""
    path = root / "erkennung.txt"
    if not path.is_file():
        return {}
    rates = {}
    for line in path.read_bytes().decode("latin-1").splitlines():
        m = ERKENNUNG_RE.match(line)
        if m:
            rates[m.group(1)] = (float(m.group(2).replace(",", ".")), float(m.group(3).replace(",", ".")))
    return rates


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    rates = _perception(root)
    for path in iter_audio_files(root, listing):
        name = stem(path)
        m = NAME_RE.match(name)
        if not m:
            listing.skip(path, "name is not an Emo-DB name (SSTTTEV, e.g. 03a01Fa)")
            continue
        speaker, text_code, emo, version = m.groups()
        if speaker not in SPEAKERS:
            listing.skip(path, f"unknown speaker {speaker} (Emo-DB has {', '.join(SPEAKERS)})")
            continue
        if emo not in EMOTIONS:
            listing.skip(path, f"unknown emotion letter {emo} (W L E A F T N)")
            continue
        if text_code not in TEXTS:
            listing.skip(path, f"unknown text code {text_code}")
            continue
        gender, age = SPEAKERS[speaker]
        extra = {"text_code": text_code, "text": TEXTS[text_code], "version": version,
                 "age": age, "emotion_code": emo}
        if name in rates:
            extra["recognition_pct"], extra["naturalness_pct"] = rates[name]
        add_utterance(listing, root, path, speaker=speaker, emotion=EMOTIONS[emo], gender=gender,
                      extra=extra, check_audio=check_audio, name=name)
    return listing
