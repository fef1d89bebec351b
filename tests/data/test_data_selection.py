"""Several corpora mapped to one label set (what the trainer loads)."""

from __future__ import annotations

import pytest

from corpus_helpers import write_files
from ser_core.data import complete_speakers, load_labeled, make_split, parse_corpus_args
from ser_core.errors import ConfigError, DatasetError


@pytest.fixture
def two_corpora(tmp_path):
    rav = tmp_path / "ravdess"
    write_files(rav, [f"Actor_{a:02d}/03-01-{e:02d}-01-01-01-{a:02d}.wav" for a in (1, 2, 3) for e in (1, 2, 3, 5)])
    emo = tmp_path / "emodb"
    write_files(emo / "wav", [f"{s}a01{e}a.wav" for s in ("03", "08", "09") for e in "WLFN"])
    return rav, emo


def test_load_labeled_maps_and_reports(two_corpora):
    rav, emo = two_corpora
    data = load_labeled("ravdess,emodb", f"{rav},{emo}", "ekman7")
    assert data.corpora == ["ravdess", "emodb"] and data.classes[0] == "neutral"
    assert len(data.utterances) == 9 + 9  # calm and boredom dropped
    assert data.dropped == {"emodb": {"boredom": 3}, "ravdess": {"calm": 3}}
    assert data.class_counts() == {"neutral": 6, "happy": 6, "sad": 0, "angry": 6, "fear": 0, "disgust": 0,
                                   "surprise": 0}
    assert sorted(set(data.targets())) == [0, 1, 3]
    d = data.to_dict()
    assert d["label_set"]["id"] == "ekman7@v1" and d["speakers"] == 6
    assert d["corpora"][0]["mapping"]["dropped"] == ["calm"]
    split = make_split(data.utterances, "loso", val_speakers=1)
    assert len(split) == 6
    split.check(data.utterances)


def test_parse_and_errors(two_corpora, tmp_path):
    rav, emo = two_corpora
    assert parse_corpus_args("RAVDESS, emo-db", [str(rav), str(emo)]) == [("ravdess", rav), ("emodb", emo)]
    with pytest.raises(ConfigError, match="2 corpora but 1"):
        parse_corpus_args("ravdess,emodb", str(rav))
    with pytest.raises(ConfigError, match="named twice"):
        parse_corpus_args("ravdess,ravdess", f"{rav},{rav}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio files found"):
        load_labeled("ravdess", str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="e.g."):
        load_labeled("ravdess", str(emo))  # Emo-DB names are not RAVDESS names
    odd = tmp_path / "odd"
    write_files(odd, ["calm/a/1.wav", "boredom/b/2.wav"])
    with pytest.raises(DatasetError, match="No utterance has a label of iemocap4"):
        load_labeled("generic", str(odd), "iemocap4")


def test_complete_speakers():
    from corpus_helpers import utt

    utts = [utt("seac", "A", i, e) for i, e in enumerate(["neutral", "happy", "sad", "angry"])]
    utts += [utt("seac", "B", i, e) for i, e in enumerate(["neutral", "happy", "sad"])]
    kept = complete_speakers(utts, ["neutral", "happy", "sad", "angry"])
    assert {u.speaker for u in kept} == {"A"}
