"""Every protocol: speaker disjointness, duplicates kept together, determinism, JSON round trip."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from corpus_helpers import utt
from ser_core.data import PROTOCOLS, LeakageError, Split, make_split
from ser_core.data.splits import Fold
from ser_core.errors import ConfigError

EMOS = ["neutral", "happy", "sad", "angry"]


def corpus(name: str, speakers: int, per_speaker: int = 8, sessions: bool = False):
    out = []
    for s in range(speakers):
        spk = f"S{s:02d}"
        for i in range(per_speaker + s % 3):  # unequal speaker sizes
            extra = {"session": s // 2 + 1} if sessions else {}
            out.append(utt(name, spk, i, EMOS[i % 4], **extra))
    return out


def assert_clean(split: Split, utterances, independent: bool = True):
    split.check(utterances)
    spk = {u.uid: u.speaker_key for u in utterances}
    used = set()
    for f in split.folds:
        parts = {p: set(f.part(p)) for p in ("train", "val", "test")}
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
        if independent:
            speakers = {p: {spk[x] for x in ids} for p, ids in parts.items()}
            assert not speakers["train"] & speakers["test"]
            assert not speakers["train"] & speakers["val"]
            assert not speakers["val"] & speakers["test"]
            assert set(f.speakers["test"]) == speakers["test"]
        for g in split.duplicate_groups:
            assert len({p for p, ids in parts.items() for x in g if x in ids}) <= 1
        used |= parts["test"]
    return used


PROTOCOL_CASES = [
    ("leave-one-speaker-out", {}, 10),
    ("leave-one-speaker-out", {"val_speakers": 2}, 10),
    ("speaker-kfold", {"folds": 5}, 5),
    ("speaker-kfold", {"folds": 3, "val_speakers": 1}, 3),
    ("leave-one-session-out", {"val_speakers": 1}, 5),
    ("seed000", {}, 10),
]


@pytest.mark.parametrize("protocol,kw,n_folds", PROTOCOL_CASES)
def test_speaker_independent_protocols(protocol, kw, n_folds):
    utts = corpus("iemocap", 10, sessions=True)
    split = make_split(utts, protocol, seed=3, duplicates=None, **kw)
    assert split.speaker_independent and len(split) == n_folds
    tested = assert_clean(split, utts)
    assert tested == {u.uid for u in utts}  # every utterance is tested exactly once
    assert sum(len(f.test) for f in split) == len(utts)
    again = make_split(utts, protocol, seed=3, duplicates=None, **kw)
    assert again.to_dict() == split.to_dict()  # deterministic
    assert Split.from_dict(json.loads(split.to_json())).to_dict() == split.to_dict()


def test_seed000_is_8_1_1_on_ten_speakers_with_session_partner_validation():
    utts = corpus("iemocap", 10, sessions=True)
    split = make_split(utts, "seed000", duplicates=None)
    for f in split:
        assert [len(f.speakers[p]) for p in ("train", "val", "test")] == [8, 1, 1]
        test, val = f.speakers["test"][0], f.speakers["val"][0]
        assert int(test[-2:]) // 2 == int(val[-2:]) // 2  # same session
    assert split.params["validation"] == "session partner"
    plain = make_split(corpus("seac", 7), "seed000", seed=1, duplicates=None)
    assert len(plain) == 7 and all([len(f.speakers[p]) for p in ("train", "val", "test")] == [5, 1, 1] for f in plain)
    assert plain.params["validation"] == "next speaker in seeded order"
    assert len({f.speakers["val"][0] for f in plain}) == 7  # each speaker validates once


def test_kfold_depends_on_seed_and_balances_sizes():
    utts = corpus("ravdess", 24, per_speaker=60)
    a = make_split(utts, "speaker-kfold", folds=4, seed=0, duplicates=None)
    b = make_split(utts, "speaker-kfold", folds=4, seed=1, duplicates=None)
    assert a.fingerprint != b.fingerprint
    sizes = [len(f.test) for f in a]
    assert max(sizes) - min(sizes) <= 3
    assert all(len(f.speakers["test"]) == 6 for f in a)


def test_duplicates_stay_in_one_part_even_across_speakers():
    utts = corpus("ravdess", 6)
    same_speaker = [utts[0].uid, utts[1].uid]
    cross_speaker = [utts[2].uid, next(u.uid for u in utts if u.speaker == "S03")]
    groups = [same_speaker, cross_speaker]
    for protocol, kw in [("leave-one-speaker-out", {"val_speakers": 1}), ("speaker-kfold", {"folds": 3}),
                         ("seed000", {}), ("speaker-dependent-random", {"folds": 3})]:
        split = make_split(utts, protocol, duplicates=groups, **kw)
        split.check(utts)
        assert split.duplicate_groups == tuple(tuple(g) for g in groups)
        excluded = [uid for f in split for uid, _ in f.excluded]
        if protocol != "speaker-dependent-random":
            assert set(excluded) <= {cross_speaker[1], cross_speaker[0]}
            assert excluded, protocol  # the cross-speaker twin had to go somewhere
            for f in split:
                for uid, reason in f.excluded:
                    assert "identical audio" in reason
        else:
            assert not excluded  # random splits move duplicate groups as one unit


def test_check_catches_leaks():
    utts = corpus("emodb", 4)
    s = make_split(utts, "leave-one-speaker-out", duplicates=None)
    f = s.folds[0]
    leaky = Fold(f.name, f.train + f.test[:1], f.val, f.test, f.speakers)
    with pytest.raises(LeakageError, match="both"):
        Split(s.protocol, s.params, True, (leaky,)).check(utts)
    moved = next(x for x in f.train)
    spk_leak = Fold(f.name, tuple(x for x in f.train if x != moved), f.val, f.test + (moved,), f.speakers)
    with pytest.raises(LeakageError, match="speaker"):
        Split(s.protocol, s.params, True, (spk_leak,)).check(utts)
    dup = Split(s.protocol, s.params, True, (f,), duplicate_groups=((f.train[0], f.test[0]),))
    with pytest.raises(LeakageError, match="identical audio"):
        dup.check(utts)


def test_cross_corpus():
    utts = corpus("iemocap", 10, sessions=True) + corpus("seac", 5)
    split = make_split(utts, "cross-corpus", train_corpora=["iemocap"], test_corpora=["seac"],
                       val_speakers=1, duplicates=None)
    assert len(split) == 1 and split.folds[0].name == "iemocap->seac"
    assert_clean(split, utts)
    f = split.folds[0]
    assert all(u.startswith("seac:") for u in f.test) and all(u.startswith("iemocap:") for u in f.train + f.val)
    assert len(f.test) == sum(1 for u in utts if u.corpus == "seac")
    with pytest.raises(ConfigError, match="both a training and a test"):
        make_split(utts, "cross-corpus", train_corpora=["seac"], test_corpora=["seac"], duplicates=None)
    with pytest.raises(ConfigError, match="not in the loaded data"):
        make_split(utts, "cross-corpus", train_corpora=["iemocap"], test_corpora=["tess"], duplicates=None)


def test_same_speaker_id_in_two_corpora_is_two_speakers():
    utts = corpus("ravdess", 3) + corpus("emodb", 3)
    split = make_split(utts, "leave-one-speaker-out", duplicates=None)
    assert len(split) == 6 and "ravdess:S00" in [f.name for f in split]
    assert_clean(split, utts)


def test_speaker_dependent_random_is_labelled_stratified_and_deterministic():
    utts = corpus("ravdess", 6, per_speaker=20)
    split = make_split(utts, "random", test_fraction=0.25, val_fraction=0.1, seed=5, duplicates=None)
    assert split.protocol == "speaker-dependent-random" and not split.speaker_independent
    assert "SPEAKER-DEPENDENT" in split.note and "SPEAKER-DEPENDENT" in split.to_json()
    assert_clean(split, utts, independent=False)
    f = split.folds[0]
    by = {u.uid: u for u in utts}
    total, test = Counter(u.label for u in utts), Counter(by[x].label for x in f.test)
    for label in total:
        assert abs(test[label] / total[label] - 0.25) < 0.03
    assert len(f.val) > 0 and len(f.train) + len(f.val) + len(f.test) == len(utts)
    assert make_split(utts, "random", test_fraction=0.25, val_fraction=0.1, seed=5, duplicates=None).fingerprint == split.fingerprint
    kfold = make_split(utts, "random", folds=5, duplicates=None)
    assert len(kfold) == 5 and sorted(x for f in kfold for x in f.test) == sorted(u.uid for u in utts)


def test_clear_errors():
    one = corpus("generic", 1)
    unknown = [utt("generic", "unknown", i, "sad") for i in range(5)]
    with pytest.raises(ConfigError, match="no speaker information"):
        make_split(unknown, "loso", duplicates=None)
    with pytest.raises(ConfigError, match="at least 5 speakers"):
        make_split(corpus("emodb", 4), "speaker-kfold", folds=5, duplicates=None)
    with pytest.raises(ConfigError, match="sessions"):
        make_split(corpus("emodb", 4), "leave-one-session-out", duplicates=None)
    with pytest.raises(ConfigError, match="Unknown protocol"):
        make_split(one, "bootstrap", duplicates=None)
    with pytest.raises(ConfigError, match="at least 4 speakers"):
        make_split(corpus("emodb", 3), "loso", val_speakers=2, duplicates=None)
    with pytest.raises(ConfigError, match="appears twice"):
        make_split(one + one, "loso", duplicates=None)
    assert set(PROTOCOLS) == {"leave-one-speaker-out", "speaker-kfold", "leave-one-session-out", "seed000",
                              "cross-corpus", "leave-one-corpus-out", "final", "speaker-dependent-random"}


def test_saved_split_round_trips_and_detects_edits(tmp_path):
    utts = corpus("emovo", 6)
    split = make_split(utts, "loso", val_speakers=1, duplicates=None)
    path = split.save(tmp_path / "split.json")
    assert Split.load(path).fingerprint == split.fingerprint
    d = json.loads(path.read_text())
    d["folds"][0]["test"].append("emovo:other")
    with pytest.raises(ConfigError, match="fingerprint"):
        Split.from_dict(d)
    assert [u.uid for u in split.select(0, "test", utts)] == list(split.folds[0].test)


def test_final_fit_holds_back_one_val_and_one_test_speaker_per_corpus():
    utts = corpus("ravdess", 5) + corpus("emodb", 3) + corpus("cremad", 9)
    split = make_split(utts, "final", duplicates=None)
    assert [f.name for f in split] == ["final"] and split.speaker_independent
    assert split.params == {"val_speakers": 1, "test_speakers": 1, "seed": 0, "per": "corpus"}
    assert_clean(split, utts)
    f = split.folds[0]
    for part in ("val", "test"):
        corpora = sorted(s.split(":")[0] for s in f.speakers[part])
        assert corpora == ["cremad", "emodb", "ravdess"], part  # one speaker of each corpus
    assert len(f.speakers["train"]) == 17 - 6
    assert make_split(utts, "final-fit", duplicates=None).fingerprint == split.fingerprint
    assert make_split(utts, "final", seed=1, duplicates=None).fingerprint != split.fingerprint
    with pytest.raises(ConfigError, match="would leave none to train on"):
        make_split(utts, "final", val_speakers=2, duplicates=None)  # emodb has 3 speakers


def test_leave_one_corpus_out_disjoint_corpora_and_classes_restricted():
    # "surprise" exists only in tess: when tess is left out its surprise clips cannot be tested
    # (no training utterance has that class); when another corpus is left out they train.
    tess = corpus("tess", 2) + [utt("tess", "S00", 100 + i, "surprise") for i in range(3)]
    utts = corpus("ravdess", 4) + corpus("emodb", 3) + tess
    split = make_split(utts, "leave-one-corpus-out", val_speakers=1, duplicates=None)
    assert [f.name for f in split] == ["emodb", "ravdess", "tess"]
    assert split.speaker_independent and split.params["corpora"] == ["emodb", "ravdess", "tess"]
    assert_clean(split, utts)
    by_uid = {u.uid: u for u in utts}
    for f in split:
        assert {by_uid[x].corpus for x in f.test} == {f.name}
        assert f.name not in {by_uid[x].corpus for x in f.train + f.val}
        assert len(f.val) and len({by_uid[x].speaker_key for x in f.val}) == 1
        trained = {by_uid[x].label for x in f.train}
        assert {by_uid[x].label for x in f.test} <= trained
    tess_fold = split.folds[2]
    dropped = {uid for uid, _ in tess_fold.excluded}
    assert dropped == {u.uid for u in tess if u.label == "surprise"}
    assert all("not in the training data" in why for _, why in tess_fold.excluded)
    assert len(tess_fold.test) == len(tess) - 3  # every other tess utterance is tested
    assert any(by_uid[x].label == "surprise" for x in split.folds[0].train)
    assert make_split(utts, "loco", val_speakers=1, duplicates=None).fingerprint == split.fingerprint
    with pytest.raises(ConfigError, match="at least two corpora"):
        make_split(corpus("emodb", 3), "leave-one-corpus-out", duplicates=None)


def test_leave_one_corpus_out_validation_speakers_per_training_corpus():
    # drawn from the pool, the validation speakers follow the largest corpus; per corpus, each
    # training corpus lends the same number, and the left-out corpus none
    utts = corpus("cremad", 12) + corpus("emodb", 3) + corpus("ravdess", 4)
    split = make_split(utts, "loco", val_speakers=1, val_per_corpus=True, duplicates=None)
    assert_clean(split, utts)
    assert split.params["val_per_corpus"] is True
    for f in split:
        val_corpora = sorted(s.split(":", 1)[0] for s in f.speakers["val"])
        assert val_corpora == sorted({"cremad", "emodb", "ravdess"} - {f.name}), (f.name, val_corpora)
    two = make_split(utts, "loco", val_speakers=2, val_per_corpus=True, duplicates=None)
    assert all(len(f.speakers["val"]) == 4 for f in two)
    assert two.fingerprint != split.fingerprint
    # without the option the pool draw (and every stored fold) is unchanged
    pooled = make_split(utts, "loco", val_speakers=1, duplicates=None)
    assert "val_per_corpus" not in pooled.params
    assert all(len(f.speakers["val"]) == 1 for f in pooled)
    with pytest.raises(ConfigError, match="leave-one-corpus-out option"):
        make_split(utts, "speaker-kfold", val_speakers=1, val_per_corpus=True, duplicates=None)
    with pytest.raises(ConfigError, match="would leave fewer than one training speaker"):
        make_split(utts, "loco", val_speakers=3, val_per_corpus=True, duplicates=None)  # emodb: 3
