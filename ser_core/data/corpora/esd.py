"""ESD, Emotional Speech Dataset (Zhou et al. 2021), Mandarin and English.

Layout as published (``Emotional Speech Dataset (ESD)/``)::

    0011/0011.txt                                  transcripts: id <TAB> text <TAB> emotion
    0011/Angry/0011_000351.wav                     (later releases)
    0011/Angry/train|evaluation|test/0011_000351.wav   (first release)

Speakers 0001-0010 speak Mandarin, 0011-0020 English. Five emotions (folder names): Neutral,
Angry, Happy, Sad, Surprise; 350 utterances each per speaker, numbered in blocks
(000001-000350 neutral, 000351-000700 angry, 000701-001050 happy, 001051-001400 sad,
001401-001750 surprise). A file whose number block contradicts its emotion folder is
skipped and reported. The release does not encode gender in the tree: ``gender`` is None.
Extra: ``language`` (zh/en), ``text`` (when the transcript file is present), ``esd_split``
(train/evaluation/test in the first release's layout).
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "esd"

FOLDERS = {"neutral": "neutral", "angry": "angry", "happy": "happy", "sad": "sad",
           "surprise": "surprise"}
BLOCKS = ("neutral", "angry", "happy", "sad", "surprise")  # 350 utterances each, in this order
SUBSETS = {"train", "evaluation", "test"}

INFO = CorpusInfo(
    name=NAME,
    title="Emotional Speech Dataset (ESD)",
    language="zh+en",
    native_labels=BLOCKS,
    layout="<spk>/<Emotion>/[train|evaluation|test/]<spk>_<nnnnnn>.wav + <spk>/<spk>.txt",
    citation=("Zhou K, Sisman B, Liu R, Li H (2021) Seen and unseen emotional style transfer for voice "
              "conversion with a new emotional speech dataset. Proc. ICASSP 2021, 920-924."),
    license="research use (ESD license agreement)",
    notes=("10 Mandarin (0001-0010) + 10 English (0011-0020) speakers, 5 x 350 utterances each.",),
)

NAME_RE = re.compile(r"^(\d{4})_(\d{6})$")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _transcripts(speaker_dir: Path) -> dict[str, str]:
    path = speaker_dir / f"{speaker_dir.name}.txt"
    if not path.is_file():
        return {}
    out = {}
    for line in _read_text(path).splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2 and NAME_RE.match(parts[0].strip()):
            out[parts[0].strip()] = parts[1].strip()
    return out


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    texts: dict[str, dict[str, str]] = {}
    for path in iter_audio_files(root, listing):
        name = stem(path)
        m = NAME_RE.match(name)
        if not m:
            listing.skip(path, "name is not an ESD name (<spk>_<nnnnnn>)")
            continue
        speaker, number = m.group(1), int(m.group(2))
        if not 1 <= int(speaker) <= 20:
            listing.skip(path, f"speaker {speaker} is outside 0001-0020")
            continue
        if not 1 <= number <= 350 * len(BLOCKS):
            listing.skip(path, f"utterance number {number} is outside 1-1750")
            continue
        block = BLOCKS[(number - 1) // 350]
        parents = [p.name for p in path.relative_to(root).parents][:-1]  # nearest first
        subset = parents[0].lower() if parents and parents[0].lower() in SUBSETS else None
        emo_dirs = [FOLDERS[n.lower()] for n in parents if n.lower() in FOLDERS]
        if emo_dirs and emo_dirs[0] != block:
            listing.skip(path, f"lies in a {emo_dirs[0]} folder but its number is in the {block} block")
            continue
        speaker_dirs = [p for p in path.parents if p.name == speaker]
        if speaker_dirs and speaker not in texts:
            texts[speaker] = _transcripts(speaker_dirs[0])
        extra = {"language": "zh" if int(speaker) <= 10 else "en", "number": number}
        if subset:
            extra["esd_split"] = subset
        text = texts.get(speaker, {}).get(name)
        if text:
            extra["text"] = text
        add_utterance(listing, root, path, speaker=speaker, emotion=block, gender=None, extra=extra,
                      check_audio=check_audio, name=name)
    return listing
