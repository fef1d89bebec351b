"""IEMOCAP (Busso et al. 2008), utterance-level categorical labels.

Layout as published (``IEMOCAP_full_release/``)::

    Session1/sentences/wav/<dialog>/<utterance>.wav
    Session1/dialog/EmoEvaluation/<dialog>.txt

Each EmoEvaluation file has one summary line per utterance::

    [START - END]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[V, A, D]

followed by the individual evaluators' lines (``C-E1: ...``, ``A-E2: ...``), which are not
used. Utterance ids are ``<dialog>_<G><NNN>``: the dialog ``Ses01F_impro01`` names the
session, the actor wearing the markers and whether it is improvised or scripted; the
final ``F000`` / ``M012`` names the *speaking* actor's gender. Speaker = session + that
gender (``Ses01F``): the 10 actors, two per session.

Native labels: neu neutral, hap happy, exc excited, sad sad, ang angry, fru frustrated,
fea fear, sur surprise, dis disgust, oth other, xxx (no majority among evaluators; kept as
``"xxx"``). The usual 4-class set (``iemocap4``) merges excited into happy: 5,531 utterances.

Extra fields: ``session`` (1-5), ``dialog``, ``method`` (``improvised``/``scripted``),
``start_s``, ``end_s``, ``valence``, ``arousal``, ``dominance``.
"""

from __future__ import annotations

import re
from pathlib import Path

from ser_core.data.records import CorpusListing, add_utterance, iter_audio_files, stem
from ser_core.data.registry import CorpusInfo

NAME = "iemocap"

EMOTIONS = {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry",
            "fru": "frustrated", "fea": "fear", "sur": "surprise", "dis": "disgust",
            "oth": "other", "xxx": "xxx"}

INFO = CorpusInfo(
    name=NAME,
    title="IEMOCAP (Interactive Emotional Dyadic Motion Capture database)",
    language="en",
    native_labels=tuple(EMOTIONS.values()),
    layout=("Session1-5/sentences/wav/<dialog>/<utt>.wav with labels in "
            "Session*/dialog/EmoEvaluation/<dialog>.txt"),
    citation=("Busso C, Bulut M, Lee CC, Kazemzadeh A, Mower E, Kim S, Chang JN, Lee S, Narayanan SS "
              "(2008) IEMOCAP: Interactive emotional dyadic motion capture database. Language "
              "Resources and Evaluation 42(4): 335-359."),
    license="research license from USC SAIL (obtain from the authors)",
    notes=("10 actors in 5 sessions; 4-class use (neutral, happy+excited, sad, angry): 5,531 utterances.",),
)

LABEL_RE = re.compile(
    r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\]\s*$")
UTT_RE = re.compile(r"^(Ses(\d{2})[FM]_(impro|script)\S*)_([FM])(\d{3})$")
SESSION_DIR_RE = re.compile(r"^Session(\d)$", re.IGNORECASE)


def _session_dirs(root: Path) -> dict[int, Path]:
    found = {int(m.group(1)): p for p in root.iterdir()
             if p.is_dir() and (m := SESSION_DIR_RE.match(p.name))}
    if not found:  # root may be the folder *above* IEMOCAP_full_release
        subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for sub in subs:
            inner = {int(m.group(1)): p for p in sub.iterdir()
                     if p.is_dir() and (m := SESSION_DIR_RE.match(p.name))}
            if inner:
                return inner
    return found


def _read_labels(session_dir: Path, listing: CorpusListing) -> dict[str, dict]:
    """utterance id -> label record, from every ``dialog/EmoEvaluation/*.txt`` of a session."""
    labels: dict[str, dict] = {}
    eval_dir = session_dir / "dialog" / "EmoEvaluation"
    if not eval_dir.is_dir():
        return labels
    for txt in sorted(eval_dir.glob("*.txt")):
        if txt.name.startswith("."):
            continue
        for line in txt.read_bytes().decode("utf-8", errors="replace").splitlines():
            if not line.startswith("["):
                continue
            m = LABEL_RE.match(line.strip())
            if not m:
                listing.skip(f"{txt}: {line.strip()[:60]}", "label line not in the form [start - end] utt emo [V, A, D]")
                continue
            start, end, utt, code, v, a, d = m.groups()
            if utt in labels:
                listing.skip(f"{txt}: {utt}", "utterance labelled twice; the first label line is kept")
                continue
            labels[utt] = {"code": code.lower(), "start_s": float(start), "end_s": float(end),
                           "valence": float(v), "arousal": float(a), "dominance": float(d),
                           "label_file": str(txt)}
    return labels


def load(root: Path, *, check_audio: bool = True) -> CorpusListing:
    listing = CorpusListing(NAME, str(root))
    sessions = _session_dirs(root)
    if not sessions:
        for path in iter_audio_files(root, listing):
            listing.skip(path, "not inside a Session1-5 folder of IEMOCAP")
        return listing
    for number, session_dir in sorted(sessions.items()):
        wav_root = session_dir / "sentences" / "wav"
        labels = _read_labels(session_dir, listing)
        has_eval = (session_dir / "dialog" / "EmoEvaluation").is_dir()
        audio = iter_audio_files(wav_root, listing) if wav_root.is_dir() else []
        if not wav_root.is_dir():
            listing.skip(wav_root, f"Session{number} has no sentences/wav folder")
        for path in audio:
            utt = stem(path)
            m = UTT_RE.match(utt)
            if not m:
                listing.skip(path, "name is not an IEMOCAP utterance id (Ses0NX_impro|script..._GNNN)")
                continue
            dialog, sess, method, gender, _ = m.groups()
            if int(sess) != number:
                listing.skip(path, f"utterance of session {int(sess)} inside Session{number}")
                continue
            if path.parent.name != dialog:
                listing.skip(path, f"utterance of dialog {dialog} inside folder {path.parent.name}")
                continue
            if not has_eval:
                listing.skip(path, f"Session{number}/dialog/EmoEvaluation is missing: no label")
                continue
            rec = labels.get(utt)
            if rec is None:
                listing.skip(path, f"no label line for {utt} in Session{number}/dialog/EmoEvaluation/{dialog}.txt")
                continue
            if rec["code"] not in EMOTIONS:
                listing.skip(path, f"unknown emotion code {rec['code']!r}")
                continue
            extra = {"session": number, "dialog": dialog,
                     "method": "improvised" if method == "impro" else "scripted",
                     "emotion_code": rec["code"],
                     **{k: rec[k] for k in ("start_s", "end_s", "valence", "arousal", "dominance")}}
            add_utterance(listing, root, path, speaker=f"Ses{sess}{gender}", emotion=EMOTIONS[rec["code"]],
                          gender="female" if gender == "F" else "male", extra=extra,
                          check_audio=check_audio, name=utt)
        present = {stem(p) for p in audio}
        for utt in sorted(set(labels) - present):
            listing.skip(f"{labels[utt]['label_file']}: {utt}", "labelled in EmoEvaluation but no audio file found")
    return listing
