"""Every corpus loader on tiny generated trees in the corpus' real naming, awkward cases included."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus_helpers import write_audio, write_files
from ser_core.data import load_corpus, list_corpora
from ser_core.errors import DatasetError


def reasons(listing) -> dict[str, str]:
    return {Path(s.path).name if "\t" not in s.path else s.path: s.reason for s in listing.skipped}


def skipped_names(listing) -> set[str]:
    return {Path(s.path.split(": ")[0]).name for s in listing.skipped}


def by_uid(listing):
    return {u.uid: u for u in listing.utterances}


def test_every_registered_corpus_has_a_loader():
    assert set(list_corpora()) == {"ravdess", "emodb", "emovo", "iemocap", "tess", "cremad", "savee",
                                   "esd", "aesdd", "seac", "generic"}


def test_missing_root_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_corpus("ravdess", tmp_path / "nope")
    with pytest.raises(DatasetError, match="Unknown corpus"):
        load_corpus("timit", tmp_path)


# ----------------------------------------------------------------------------- RAVDESS

def test_ravdess_fields_and_malformed_tree(tmp_path):
    root = tmp_path / "ravdess"
    good = ["Actor_01/03-01-05-02-01-01-01.wav", "Actor_02/03-01-02-01-02-02-02.flac",
            "Actor_02/03-01-01-01-01-01-02.WAV"]
    write_files(root, good)
    write_files(root, ["Actor_01/03-02-05-01-01-01-01.wav",   # song
                       "Actor_01/02-01-05-01-01-01-01.wav",   # video-only modality
                       "Actor_01/03-01-09-01-01-01-01.wav",   # emotion 09
                       "Actor_01/03-01-01-02-01-01-01.wav",   # strong neutral does not exist
                       "Actor_01/03-01-05-01-01-01-03.wav",   # actor 03 in Actor_01
                       "Actor_01/notes.wav"])                 # not a RAVDESS name
    write_audio(root / "Actor_01" / "._03-01-05-02-01-01-01.wav")  # macOS resource fork
    (root / "Actor_01" / "03-01-04-01-01-01-01.wav").write_bytes(b"")  # empty
    (root / "Actor_01" / "03-01-04-01-01-02-01.wav").write_bytes(b"RIFF\x00\x00garbage")  # corrupt
    (root / "README.txt").write_text("not audio, ignored")
    listing = load_corpus("ravdess", root)
    assert [u.uid for u in listing] == ["ravdess:03-01-01-01-01-01-02", "ravdess:03-01-02-01-02-02-02",
                                        "ravdess:03-01-05-02-01-01-01"]
    u = by_uid(listing)["ravdess:03-01-05-02-01-01-01"]
    assert (u.speaker, u.gender, u.emotion, u.speaker_key) == ("01", "male", "angry", "ravdess:01")
    assert u.extra["intensity"] == "strong" and u.extra["statement"] == "01"
    assert u.extra["text"] == "Kids are talking by the door" and u.extra["repetition"] == 1
    assert u.duration_s == pytest.approx(0.3)
    calm = by_uid(listing)["ravdess:03-01-02-01-02-02-02"]
    assert (calm.emotion, calm.gender, calm.extra["repetition"]) == ("calm", "female", 2)
    r = reasons(listing)
    assert "song" in r["03-02-05-01-01-01-01.wav"]
    assert "modality" in r["02-01-05-01-01-01-01.wav"]
    assert "emotion code 09" in r["03-01-09-01-01-01-01.wav"]
    assert "strong-intensity neutral" in r["03-01-01-02-01-01-01.wav"]
    assert "Actor_01" in r["03-01-05-01-01-01-03.wav"]
    assert "not a RAVDESS name" in r["notes.wav"]
    assert "hidden" in r["._03-01-05-02-01-01-01.wav"]
    assert "empty" in r["03-01-04-01-01-01-01.wav"]
    assert "unreadable" in r["03-01-04-01-01-02-01.wav"]
    assert len(listing.skipped) == 9
    song = load_corpus("ravdess", root, include_song=True)
    assert by_uid(song)["ravdess:03-02-05-01-01-01-01"].extra["vocal_channel"] == "song"


def test_ravdess_flat_layout_and_same_name_twice(tmp_path):
    root = tmp_path / "flat"
    write_files(root, ["03-01-03-01-01-01-07.wav", "03-01-03-01-01-01-08.wav"])
    write_audio(root / "copy" / "03-01-03-01-01-01-07.flac", content="other")
    listing = load_corpus("ravdess", root)
    assert len(listing) == 2 and listing.speakers == ["07", "08"]
    assert "same name" in listing.skipped[0].reason


def test_symlinked_folders_are_followed_once(tmp_path):
    import os

    write_audio(tmp_path / "disk2" / "Actor_05" / "03-01-04-02-02-01-05.wav")
    root = tmp_path / "ravdess"
    write_audio(root / "Actor_01" / "03-01-04-02-02-01-01.wav")
    os.symlink(tmp_path / "disk2" / "Actor_05", root / "Actor_05")
    os.symlink(root, root / "Actor_01" / "loop")
    listing = load_corpus("ravdess", root)
    assert listing.speakers == ["01", "05"] and len(listing) == 2 and not listing.skipped


# ------------------------------------------------------------------------------ Emo-DB

def test_emodb_fields_and_perception_rates(tmp_path):
    root = tmp_path / "emodb"
    write_files(root / "wav", ["03a01Fa.wav", "16b10Lb.wav", "09a05Tc.flac"])
    write_files(root / "wav", ["05a01Wa.wav", "03a01Xa.wav", "03z01Wa.wav", "03a03Wa.wav"])
    (root / "lablaut").mkdir()
    (root / "lablaut" / "03a01Fa.lablaut").write_text("labels, not audio")
    (root / "erkennung.txt").write_bytes(
        "Nr.\tSatz\terkannt\tnatuerlich\n1  \t03a01Fa.wav\t90,00     \t75,00     \n".encode("latin-1"))
    listing = load_corpus("emodb", root)
    assert sorted(u.uid for u in listing) == ["emodb:03a01Fa", "emodb:09a05Tc", "emodb:16b10Lb"]
    u = by_uid(listing)["emodb:03a01Fa"]
    assert (u.speaker, u.gender, u.emotion) == ("03", "male", "happiness")
    assert u.extra["text"] == "Der Lappen liegt auf dem Eisschrank." and u.extra["age"] == 31
    assert (u.extra["recognition_pct"], u.extra["naturalness_pct"]) == (90.0, 75.0)
    assert by_uid(listing)["emodb:16b10Lb"].emotion == "boredom"
    assert by_uid(listing)["emodb:09a05Tc"].gender == "female"
    r = reasons(listing)
    assert "unknown speaker 05" in r["05a01Wa.wav"]
    assert "emotion letter X" in r["03a01Xa.wav"]
    assert "not an Emo-DB name" in r["03z01Wa.wav"]
    assert "text code a03" in r["03a03Wa.wav"]


# ------------------------------------------------------------------------------- EMOVO

def test_emovo_fields_and_mismatched_folder(tmp_path):
    root = tmp_path / "emovo"
    write_files(root, ["f1/dis-f1-b1.wav", "m3/gio-m3-n5.flac", "f2/NEU-F2-L4.wav"])
    write_files(root, ["f1/rab-f2-b1.wav", "f1/xyz-f1-b1.wav", "f1/rab-f1-q1.wav"])
    listing = load_corpus("emovo", root)
    assert sorted(u.uid for u in listing) == ["emovo:dis-f1-b1", "emovo:gio-m3-n5", "emovo:neu-f2-l4"]
    u = by_uid(listing)["emovo:gio-m3-n5"]
    assert (u.speaker, u.gender, u.emotion, u.extra["sentence"]) == ("m3", "male", "joy", "n5")
    r = reasons(listing)
    assert "folder f1" in r["rab-f2-b1.wav"]
    assert "emotion code xyz" in r["xyz-f1-b1.wav"]
    assert "sentence code q1" in r["rab-f1-q1.wav"]


# ----------------------------------------------------------------------------- IEMOCAP

def _emo_eval(lines: list[tuple[str, str]]) -> str:
    out = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (utt, emo) in enumerate(lines):
        out += [f"[{i * 3.0 + 0.5:.4f} - {i * 3.0 + 2.25:.4f}]\t{utt}\t{emo}\t[2.5000, 3.0000, 3.5000]",
                "C-E1:\tNeutral;\t()", "A-E3:\tval 3; act 3; dom  3;\t()", ""]
    return "\r\n".join(out)  # the released files have Windows line ends


def make_iemocap(root: Path) -> Path:
    s1 = root / "Session1"
    wav = s1 / "sentences" / "wav"
    labels = s1 / "dialog" / "EmoEvaluation"
    labels.mkdir(parents=True)
    (labels / "Categorical").mkdir()  # per-evaluator folders are not label summaries
    (labels / "Categorical" / "Ses01F_impro01_e1_cat.txt").write_text("Ses01F_impro01_F000 :Neutral state; ()")
    (labels / "Ses01F_impro01.txt").write_text(_emo_eval([
        ("Ses01F_impro01_F000", "neu"), ("Ses01F_impro01_M000", "exc"), ("Ses01F_impro01_F001", "fru"),
        ("Ses01F_impro01_M001", "xxx"), ("Ses01F_impro01_F002", "hap")]))  # F002 has no audio
    (labels / "Ses01M_script01_1.txt").write_text(_emo_eval([
        ("Ses01M_script01_1_F000", "ang"), ("Ses01M_script01_1_M000", "sad")]))
    write_files(wav / "Ses01F_impro01", ["Ses01F_impro01_F000.wav", "Ses01F_impro01_M000.wav",
                                         "Ses01F_impro01_F001.wav", "Ses01F_impro01_M001.wav",
                                         "Ses01F_impro01_F009.wav"])  # F009 has no label line
    write_files(wav / "Ses01M_script01_1", ["Ses01M_script01_1_F000.wav", "Ses01M_script01_1_M000.wav"])
    write_audio(wav / "Ses01F_impro01" / "Ses02F_impro01_F000.wav")  # wrong session
    write_audio(wav / "Ses01F_impro01" / "Ses01F_impro01_F000.pk.wav")  # junk name
    # Session 2: audio but no EmoEvaluation folder at all.
    write_audio(root / "Session2" / "sentences" / "wav" / "Ses02M_impro03" / "Ses02M_impro03_M000.wav")
    (root / "Session2" / "dialog").mkdir(parents=True)
    return root


def test_iemocap_labels_speakers_sessions_and_awkward_cases(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    listing = load_corpus("iemocap", root)
    got = {u.uid: (u.speaker, u.gender, u.emotion) for u in listing}
    assert got == {
        "iemocap:Ses01F_impro01_F000": ("Ses01F", "female", "neutral"),
        "iemocap:Ses01F_impro01_M000": ("Ses01M", "male", "excited"),
        "iemocap:Ses01F_impro01_F001": ("Ses01F", "female", "frustrated"),
        "iemocap:Ses01F_impro01_M001": ("Ses01M", "male", "xxx"),
        "iemocap:Ses01M_script01_1_F000": ("Ses01F", "female", "angry"),
        "iemocap:Ses01M_script01_1_M000": ("Ses01M", "male", "sad"),
    }
    u = by_uid(listing)["iemocap:Ses01M_script01_1_M000"]
    assert u.extra["session"] == 1 and u.extra["method"] == "scripted" and u.extra["dialog"] == "Ses01M_script01_1"
    assert (u.extra["valence"], u.extra["arousal"], u.extra["dominance"]) == (2.5, 3.0, 3.5)
    assert u.extra["start_s"] == pytest.approx(3.5) and u.extra["end_s"] == pytest.approx(5.25)
    assert by_uid(listing)["iemocap:Ses01F_impro01_F000"].extra["method"] == "improvised"
    text = " | ".join(f"{s.path} -> {s.reason}" for s in listing.skipped)
    assert "Ses01F_impro01_F002 -> labelled in EmoEvaluation but no audio file" in text
    assert "Ses01F_impro01_F009.wav -> no label line" in text
    assert "Ses02F_impro01_F000.wav -> utterance of session 2 inside Session1" in text
    assert "Ses01F_impro01_F000.pk.wav -> name is not an IEMOCAP utterance id" in text
    assert "Ses02M_impro03_M000.wav -> Session2/dialog/EmoEvaluation is missing" in text
    assert len(listing.skipped) == 5
    from ser_core.data import apply_label_set

    four = apply_label_set(listing.utterances, "iemocap4")
    assert sorted(u.label for u in four.kept) == ["angry", "happy", "neutral", "sad"]  # excited -> happy
    assert four.dropped == {"iemocap": {"frustrated": 1, "xxx": 1}}
    # The folder above IEMOCAP_full_release works too; uids do not depend on where it lives.
    assert [u.uid for u in load_corpus("iemocap", tmp_path)] == [u.uid for u in listing]


def test_iemocap_without_sessions_reports_every_file(tmp_path):
    write_files(tmp_path, ["a/Ses01F_impro01_F000.wav"])
    listing = load_corpus("iemocap", tmp_path)
    assert not listing.utterances and "Session1-5" in listing.skipped[0].reason


# -------------------------------------------------------------------------------- TESS

def test_tess_folder_spellings_and_contradictions(tmp_path):
    root = tmp_path / "TESS Toronto emotional speech set data"
    write_files(root, ["OAF_angry/OAF_back_angry.wav", "OAF_Fear/OAF_bar_fear.wav",
                       "YAF_pleasant_surprised/YAF_dog_ps.wav", "OAF_Pleasant_surprise/OAF_youth_ps.wav",
                       "YAF_sad/YAF_mess_sad.wav",
                       "YAF_happy/YAF_date_sad.wav",      # name says sad, folder says happy
                       "YAF_neutral/take2.wav",           # name unparsable, folder decides
                       "misc/hello.wav"])                 # neither
    listing = load_corpus("tess", root)
    got = {u.uid: (u.speaker, u.emotion, u.extra.get("word")) for u in listing}
    assert got == {
        "tess:OAF_back_angry": ("OAF", "angry", "back"), "tess:OAF_bar_fear": ("OAF", "fear", "bar"),
        "tess:YAF_dog_ps": ("YAF", "pleasant_surprise", "dog"),
        "tess:OAF_youth_ps": ("OAF", "pleasant_surprise", "youth"),
        "tess:YAF_mess_sad": ("YAF", "sad", "mess"),
        "tess:YAF_neutral/take2": ("YAF", "neutral", None),
    }
    assert all(u.gender == "female" for u in listing)
    assert by_uid(listing)["tess:OAF_back_angry"].extra["age"] == 64
    r = reasons(listing)
    assert "folder YAF_happy" in r["YAF_date_sad.wav"] and "not a TESS name" in r["hello.wav"]


# ------------------------------------------------------------------------------ CREMA-D

def test_cremad_demographics_levels_and_bad_clips(tmp_path):
    root = tmp_path / "CREMA-D"
    write_files(root / "AudioWAV", ["1001_DFA_ANG_XX.wav", "1002_IEO_HAP_HI.wav", "1091_TSI_NEU_X.wav"])
    write_files(root / "AudioWAV", ["1001_DFA_SUR_XX.wav", "1001_XYZ_ANG_XX.wav", "1001_DFA_ANG_ZZ.wav"])
    (root / "AudioWAV" / "1076_MTI_SAD_XX.wav").write_bytes(b"")
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    listing = load_corpus("cremad", root)
    got = {u.uid: (u.speaker, u.gender, u.emotion, u.extra["level"]) for u in listing}
    assert got == {"cremad:1001_DFA_ANG_XX": ("1001", "male", "anger", "unspecified"),
                   "cremad:1002_IEO_HAP_HI": ("1002", "female", "happy", "high"),
                   "cremad:1091_TSI_NEU_X": ("1091", None, "neutral", "unspecified")}
    assert by_uid(listing)["cremad:1001_DFA_ANG_XX"].extra["text"] == "Don't forget a jacket."
    assert by_uid(listing)["cremad:1001_DFA_ANG_XX"].extra["age"] == 51
    r = reasons(listing)
    assert "emotion code SUR" in r["1001_DFA_SUR_XX.wav"] and "sentence code XYZ" in r["1001_XYZ_ANG_XX.wav"]
    assert "level ZZ" in r["1001_DFA_ANG_ZZ.wav"] and "empty" in r["1076_MTI_SAD_XX.wav"]


# -------------------------------------------------------------------------------- SAVEE

def test_savee_folder_and_flat_layouts(tmp_path):
    root = tmp_path / "AudioData"
    write_files(root, ["DC/a01.wav", "DC/sa15.wav", "JE/su03.wav", "KL/n30.wav", "DC/x01.wav", "XX/a01.wav"])
    (root / "Info.txt").write_text("documentation")
    listing = load_corpus("savee", root)
    got = {u.uid: (u.speaker, u.emotion) for u in listing}
    assert got == {"savee:DC_a01": ("DC", "anger"), "savee:DC_sa15": ("DC", "sadness"),
                   "savee:JE_su03": ("JE", "surprise"), "savee:KL_n30": ("KL", "neutral")}
    assert all(u.gender == "male" for u in listing)
    r = reasons(listing)
    assert "not a SAVEE name" in r["x01.wav"] and "no SAVEE speaker" in r["a01.wav"]
    flat = load_corpus("savee", write_files(tmp_path / "flat", ["JK_h07.wav", "JK_sa01.wav"])[0].parent)
    assert {u.uid: u.emotion for u in flat} == {"savee:JK_h07": "happiness", "savee:JK_sa01": "sadness"}


# ---------------------------------------------------------------------------------- ESD

def test_esd_both_release_layouts_blocks_and_transcripts(tmp_path):
    root = tmp_path / "Emotional Speech Dataset (ESD)"
    write_files(root, ["0011/Neutral/train/0011_000001.wav", "0011/Angry/evaluation/0011_000351.wav",
                       "0011/Surprise/test/0011_001750.wav", "0003/Happy/0003_000701.wav",
                       "0011/Sad/0011_000002.wav",          # number in the neutral block
                       "0021/Sad/0021_001051.wav", "0011/Sad/0011_009999.wav"])
    (root / "0011" / "0011.txt").write_text(
        "0011_000001\tAuthor of the danger trail, Philip Steels, etc.\tNeutral\n"
        "0011_000351\tThe nine the eggs, I keep.\tAngry\n", encoding="utf-8")
    (root / "0003" / "0003.txt").write_bytes("0003_000701\t打远一看，它们的确很是美丽，\t快乐\n".encode("utf-16"))
    listing = load_corpus("esd", root)
    got = {u.uid: (u.speaker, u.emotion, u.extra["language"], u.extra.get("esd_split")) for u in listing}
    assert got == {"esd:0011_000001": ("0011", "neutral", "en", "train"),
                   "esd:0011_000351": ("0011", "angry", "en", "evaluation"),
                   "esd:0011_001750": ("0011", "surprise", "en", "test"),
                   "esd:0003_000701": ("0003", "happy", "zh", None)}
    assert by_uid(listing)["esd:0011_000351"].extra["text"] == "The nine the eggs, I keep."
    assert by_uid(listing)["esd:0003_000701"].extra["text"].startswith("打远一看")
    r = reasons(listing)
    assert "neutral block" in r["0011_000002.wav"] and "0001-0020" in r["0021_001051.wav"]
    assert "outside 1-1750" in r["0011_009999.wav"]


# -------------------------------------------------------------------------------- AESDD

def test_aesdd_names_takes_and_folder_contradiction(tmp_path):
    root = tmp_path / "Acted Emotional Speech Dynamic Database"
    write_files(root, ["anger/a01 (1).wav", "disgust/d20 (5).wav", "sadness/s05 (4)b.wav",
                       "Happiness/h11 (2).wav", "fear/a02 (3).wav", "fear/fear_01.wav"])
    listing = load_corpus("aesdd", root)
    got = {u.uid: (u.speaker, u.emotion, u.extra.get("take")) for u in listing}
    assert got == {"aesdd:a01 (1)": ("1", "anger", None), "aesdd:d20 (5)": ("5", "disgust", None),
                   "aesdd:s05 (4)b": ("4", "sadness", "b"), "aesdd:h11 (2)": ("2", "happiness", None)}
    r = reasons(listing)
    assert "folder fear" in r["a02 (3).wav"] and "not an AESDD name" in r["fear_01.wav"]


# --------------------------------------------------------------------------------- SEAC

def test_seac_speaker_emotion_folders_in_either_order(tmp_path):
    root = tmp_path / "SEAC"
    write_files(root, ["M01/neutral/s001.wav", "M01/Ljutnja/s002.wav", "Ž07/sreća/s003.wav",
                       "tuga/F12/s004.wav", "Strah/ana/s005.wav", "M01/s006.wav", "M01/misc/s007.wav"])
    (root / "speakers.csv").write_text("speaker,gender\nana,female\n")
    listing = load_corpus("seac", root)
    got = {u.uid: (u.speaker, u.gender, u.emotion) for u in listing}
    assert got == {"seac:M01/neutral/s001": ("M01", "male", "neutral"),
                   "seac:M01/Ljutnja/s002": ("M01", "male", "angry"),
                   "seac:Ž07/sreća/s003": ("Ž07", "female", "happy"),
                   "seac:tuga/F12/s004": ("F12", "female", "sad"),
                   "seac:Strah/ana/s005": ("ana", "female", "fear")}
    r = reasons(listing)
    assert "not inside" in r["s006.wav"] and "cannot tell" in r["s007.wav"]


# ------------------------------------------------------------------------------ generic

def test_generic_emotion_folders_with_and_without_speakers(tmp_path):
    root = tmp_path / "mine"
    write_files(root, ["Angry/a.wav", "angry/alice/b.wav", "happy/bob/c.flac", "bob/sad/d.wav", "loose.wav"])
    listing = load_corpus("generic", root)
    got = {u.uid: (u.speaker, u.emotion) for u in listing}
    assert got == {"generic:Angry/a": ("unknown", "angry"), "generic:angry/alice/b": ("alice", "angry"),
                   "generic:happy/bob/c": ("bob", "happy"), "generic:bob/sad/d": ("bob", "sad")}
    assert "directly in the root" in reasons(listing)["loose.wav"]


def test_generic_csv_with_header_relative_paths_and_bad_rows(tmp_path):
    root = tmp_path / "mine"
    write_files(root, ["clips/1.wav", "clips/2.wav", "clips/3.wav"])
    (root / "clips" / "notes.txt").write_text("x")
    (root / "labels.csv").write_text(
        "file,emotion,speaker,gender\nclips/1.wav,Happy,s1,F\nclips/2.wav,sad,s2,m\n"
        "clips/missing.wav,sad,s2,m\nclips/3.wav,,s3,f\nclips/notes.txt,sad,s1,f\nclips/1.wav,happy,s1,f\n,sad,s1,f\n")
    listing = load_corpus("generic", root)
    got = {u.uid: (u.speaker, u.emotion, u.gender) for u in listing}
    assert got == {"generic:clips/1": ("s1", "happy", "female"), "generic:clips/2": ("s2", "sad", "male")}
    text = " | ".join(s.reason for s in listing.skipped)
    for expected in ("labels.csv:4: file not found", "labels.csv:5: row has no label",
                     "labels.csv:6: not an audio file name", "labels.csv:7: the same file is listed twice",
                     "row has no path"):
        assert expected in text
    # The CSV itself can be the root; without a header the columns are path,label,speaker.
    (root / "plain.csv").write_text("clips/3.wav,neutral,s9\n")
    plain = load_corpus("generic", root / "plain.csv")
    assert [(u.uid, u.speaker, u.emotion) for u in plain] == [("generic:clips/3", "s9", "neutral")]


def test_generic_absolute_paths_outside_the_csv_folder(tmp_path):
    clip = write_audio(tmp_path / "elsewhere" / "x.wav")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "set.csv").write_text(f"path,label\n{clip},fear\n")
    listing = load_corpus("generic", tmp_path / "lists" / "set.csv")
    assert len(listing) == 1 and listing.utterances[0].emotion == "fear"
    assert listing.utterances[0].uid.endswith("elsewhere/x")
