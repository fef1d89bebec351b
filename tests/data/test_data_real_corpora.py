"""The three real corpora in ../shared/data: exact counts, the duplicate pair, every protocol."""

from __future__ import annotations

from collections import Counter

import pytest

from ser_core.data import (apply_label_set, duplicate_groups, load_corpus, load_labeled, make_split)

pytestmark = pytest.mark.corpus


def test_ravdess_counts(ravdess_root):
    listing = load_corpus("ravdess", ravdess_root)
    assert len(listing) == 1440 and not listing.skipped
    assert len(listing.speakers) == 24
    assert set(listing.by_speaker().values()) == {60}
    assert listing.by_emotion() == {"angry": 192, "calm": 192, "disgust": 192, "fearful": 192, "happy": 192,
                                    "neutral": 96, "sad": 192, "surprised": 192}
    assert listing.summary()["by_gender"] == {"female": 720, "male": 720}
    assert sum(u.duration_s for u in listing) == pytest.approx(2881.0, abs=1.0)


def test_emodb_counts(emodb_root):
    listing = load_corpus("emodb", emodb_root)
    assert len(listing) == 535 and not listing.skipped and len(listing.speakers) == 10
    assert listing.by_emotion() == {"anger": 127, "boredom": 81, "disgust": 46, "fear": 69, "happiness": 71,
                                    "neutral": 79, "sadness": 62}
    assert listing.by_speaker() == {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61,
                                    "14": 69, "15": 56, "16": 71}
    assert listing.summary()["by_gender"] == {"female": 302, "male": 233}
    assert all("recognition_pct" in u.extra for u in listing)


def test_emovo_counts(emovo_root):
    listing = load_corpus("emovo", emovo_root)
    assert len(listing) == 588 and not listing.skipped and len(listing.speakers) == 6
    assert listing.by_emotion() == {e: 84 for e in ("anger", "disgust", "fear", "joy", "neutral", "sadness",
                                                     "surprise")}
    assert set(listing.by_speaker().values()) == {98}


def test_ravdess_identical_pair_found_by_content(ravdess_root):
    listing = load_corpus("ravdess", ravdess_root)
    assert duplicate_groups(listing.utterances) == [["ravdess:03-01-03-01-02-01-07", "ravdess:03-01-03-01-02-02-07"]]


def test_mapped_counts(ravdess_root, emodb_root, emovo_root):
    rav = apply_label_set(load_corpus("ravdess", ravdess_root).utterances, "ekman7")
    assert len(rav.kept) == 1248 and rav.dropped == {"ravdess": {"calm": 192}}  # seed 002's RAVDESS count
    emo = apply_label_set(load_corpus("emodb", emodb_root).utterances, "iemocap4")
    assert emo.class_counts() == {"neutral": 79, "happy": 71, "sad": 62, "angry": 127}
    data = load_labeled("ravdess,emodb,emovo", [ravdess_root, emodb_root, emovo_root], "ekman7")
    assert len(data.utterances) == 1248 + 535 - 81 + 588
    assert data.class_counts()["surprise"] == 192 + 84
    # emodb7: Emo-DB whole, RAVDESS without calm and surprised, EMOVO without surprise
    data = load_labeled("ravdess,emodb,emovo", [ravdess_root, emodb_root, emovo_root], "emodb7")
    assert len(data.utterances) == (1440 - 2 * 192) + 535 + (588 - 84)
    counts = data.class_counts()
    assert counts["boredom"] == 81 and counts["happiness"] == 192 + 71 + 84
    assert counts["neutral"] == 96 + 79 + 84


@pytest.mark.slow
@pytest.mark.parametrize("protocol,kw", [
    ("leave-one-speaker-out", {"val_speakers": 1}),
    ("speaker-kfold", {"folds": 5, "val_speakers": 2}),
    ("seed000", {}),
    ("speaker-dependent-random", {"folds": 5, "val_fraction": 0.1}),
])
def test_every_protocol_on_ravdess_keeps_the_pair_together(ravdess_root, protocol, kw):
    utts = load_corpus("ravdess", ravdess_root).utterances
    split = make_split(utts, protocol, seed=0, **kw)
    split.check(utts)
    pair = {"ravdess:03-01-03-01-02-01-07", "ravdess:03-01-03-01-02-02-07"}
    assert split.duplicate_groups == (tuple(sorted(pair)),)
    for f in split:
        parts = [p for p in ("train", "val", "test") if pair & set(f.part(p))]
        assert len(parts) == 1 and pair <= set(f.part(parts[0]))
        if split.speaker_independent:
            spk = {u.uid: u.speaker for u in utts}
            sets = [{spk[x] for x in f.part(p)} for p in ("train", "val", "test")]
            assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert make_split(utts, protocol, seed=0, **kw).fingerprint == split.fingerprint


@pytest.mark.slow
def test_cross_corpus_on_real_data(emodb_root, emovo_root):
    data = load_labeled("emodb,emovo", [emodb_root, emovo_root], "ekman7")
    split = make_split(data.utterances, "cross-corpus", train_corpora=["emodb"], test_corpora=["emovo"],
                       val_speakers=1)
    split.check(data.utterances)
    f = split.folds[0]
    assert len(f.test) == 588 and len(f.train) + len(f.val) == 535 - 81


def test_cremad_counts_speakers_and_gender(cremad_root):
    # ../shared/data/cremad holds CREMA-D's odd-numbered actors (see its SOURCE.md)
    listing = load_corpus("cremad", cremad_root)
    assert len(listing) == 3756 and not listing.skipped
    assert listing.by_emotion() == {"anger": 641, "disgust": 641, "fear": 641, "happy": 642,
                                    "neutral": 550, "sad": 641}
    speakers = listing.speakers
    assert len(speakers) == 46 and all(int(s) % 2 == 1 for s in speakers)
    gender = {u.speaker: u.gender for u in listing}
    assert sorted(Counter(gender.values()).items()) == [("female", 20), ("male", 26)]
    assert all("age" in u.extra for u in listing)
    mapped = apply_label_set(listing.utterances, "ekman7")
    assert len(mapped.kept) == 3756 and not mapped.dropped
    assert mapped.class_counts()["angry"] == 641 and not mapped.class_counts().get("surprise")


@pytest.mark.slow
def test_leave_one_corpus_out_on_the_four_corpora(ravdess_root, emodb_root, emovo_root, cremad_root):
    roots = [ravdess_root, emodb_root, emovo_root, cremad_root]
    data = load_labeled("ravdess,emodb,emovo,cremad", roots, "emodb7")
    split = make_split(data.utterances, "leave-one-corpus-out", val_speakers=1)
    split.check(data.utterances)
    assert [f.name for f in split] == ["cremad", "emodb", "emovo", "ravdess"]
    by_uid = {u.uid: u for u in data.utterances}
    for f in split:
        assert {by_uid[x].corpus for x in f.test} == {f.name}
        assert f.name not in {by_uid[x].corpus for x in f.train + f.val}
    cremad, emodb = split.folds[0], split.folds[1]
    assert len(cremad.test) == 3756 and len(cremad.speakers["test"]) == 46
    # boredom is Emo-DB's alone: with Emo-DB left out no training utterance has it
    assert len(emodb.test) == 535 - 81
    assert {by_uid[x].label for x, _ in emodb.excluded} == {"boredom"}
