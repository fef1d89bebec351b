"""Label sets: complete tables, explicit merges and drops, versions."""

from __future__ import annotations

import pytest

from corpus_helpers import utt
from ser_core.data import (EKMAN7, EMODB7, IEMOCAP4, apply_label_set, corpus_info, get_label_set, list_corpora,
                           list_label_sets)
from ser_core.errors import ConfigError

NAMED = [c for c in list_corpora() if c != "generic"]


def test_class_order_is_fixed():
    assert EKMAN7.classes == ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
    assert IEMOCAP4.classes == ("neutral", "happy", "sad", "angry")
    assert EKMAN7.id == "ekman7@v1" and get_label_set("ekman7@v1") is EKMAN7


@pytest.mark.parametrize("label_set", [EKMAN7, IEMOCAP4, EMODB7], ids=lambda s: s.name)
@pytest.mark.parametrize("corpus", NAMED)
def test_every_native_label_of_every_corpus_has_an_entry(label_set, corpus):
    table = label_set.table(corpus)
    assert set(table) == set(corpus_info(corpus).native_labels)
    assert {c for c in table.values() if c is not None} <= set(label_set.classes)


def test_the_documented_choices():
    assert EKMAN7.map("ravdess", "calm") is None
    assert EKMAN7.map("emodb", "boredom") is None
    assert EKMAN7.map("iemocap", "excited") == "happy" and EKMAN7.map("iemocap", "frustrated") is None
    assert IEMOCAP4.map("iemocap", "excited") == "happy"
    assert IEMOCAP4.map("iemocap", "frustrated") is None and IEMOCAP4.map("iemocap", "xxx") is None
    assert EKMAN7.map("tess", "pleasant_surprise") == "surprise"
    assert EKMAN7.map("emovo", "joy") == "happy"
    assert IEMOCAP4.map("seac", "fear") is None
    d = IEMOCAP4.describe("iemocap")
    assert d["merged"] == {"happy": ["excited", "happy"]} and "frustrated" in d["dropped"]
    assert EKMAN7.describe("ravdess")["dropped"] == ["calm"]
    assert "calm" in EKMAN7.notes["ravdess"] and "boredom" in EKMAN7.notes["emodb"]


def test_emodb7_is_emodbs_own_task_with_the_other_corpora_mapped_onto_it():
    assert EMODB7.classes == ("anger", "boredom", "disgust", "fear", "happiness", "sadness",
                              "neutral")
    assert set(EMODB7.classes) == set(corpus_info("emodb").native_labels)
    assert get_label_set("emodb7@v1") is EMODB7 and "emodb7" in list_label_sets()
    # on Emo-DB it keeps and renames nothing: the same task as native:emodb
    assert all(EMODB7.map("emodb", n) == n for n in corpus_info("emodb").native_labels)
    assert EMODB7.map("ravdess", "happy") == "happiness" and EMODB7.map("ravdess", "fearful") == "fear"
    assert EMODB7.map("ravdess", "calm") is None and EMODB7.map("ravdess", "surprised") is None
    assert EMODB7.map("emovo", "joy") == "happiness" and EMODB7.map("emovo", "surprise") is None
    assert EMODB7.map("iemocap", "excited") == "happiness"
    assert EMODB7.map("generic", "bored") == "boredom" and EMODB7.map("generic", "angry") == "anger"
    # boredom comes from Emo-DB alone
    for corpus in NAMED:
        if corpus != "emodb":
            assert "boredom" not in EMODB7.table(corpus).values()
    utts = [utt("ravdess", "01", 1, "surprised"), utt("ravdess", "01", 2, "sad"),
            utt("emodb", "03", 3, "boredom")]
    mapped = apply_label_set(utts, "emodb7")
    assert [u.label for u in mapped.kept] == ["sadness", "boredom"]
    assert mapped.dropped == {"ravdess": {"surprised": 1}}


def test_unknown_label_of_a_named_corpus_is_an_error_generic_is_dropped():
    with pytest.raises(ConfigError, match="not in its table"):
        EKMAN7.map("ravdess", "bored")
    assert EKMAN7.map("generic", "contempt") is None
    assert EKMAN7.map("generic", "Angry".lower()) == "angry"
    with pytest.raises(ConfigError, match="no mapping for corpus"):
        EKMAN7.map("timit", "angry")


def test_apply_counts_what_is_dropped():
    utts = [utt("ravdess", "01", i, e) for i, e in enumerate(["calm", "calm", "neutral", "fearful"])]
    utts += [utt("emodb", "03", 9, "boredom")]
    mapped = apply_label_set(utts, "ekman7")
    assert [u.label for u in mapped.kept] == ["neutral", "fear"]
    assert mapped.dropped == {"emodb": {"boredom": 1}, "ravdess": {"calm": 2}}
    assert mapped.class_counts()["fear"] == 1 and mapped.class_counts()["surprise"] == 0


def test_native_sets():
    assert get_label_set("native:ravdess").classes == corpus_info("ravdess").native_labels
    assert len(get_label_set("native:ravdess").classes) == 8
    assert get_label_set("native:aesdd").num_classes == 5
    mapped = apply_label_set([utt("generic", "a", 1, "grumpy"), utt("generic", "a", 2, "calm")], "native")
    assert mapped.label_set.classes == ("calm", "grumpy")
    with pytest.raises(ConfigError, match="exactly one corpus"):
        apply_label_set([utt("ravdess", "01", 1), utt("emodb", "03", 1)], "native")
    with pytest.raises(ConfigError, match="version"):
        get_label_set("ekman7@v2")
    with pytest.raises(ConfigError, match="Unknown label set"):
        get_label_set("plutchik8")
    assert {"ekman7", "iemocap4", "native:ravdess"} <= set(list_label_sets())


def test_label_set_serialises():
    d = IEMOCAP4.to_dict()
    assert d["id"] == "iemocap4@v1" and d["tables"]["iemocap"]["excited"] == "happy"
    assert d["tables"]["ravdess"]["calm"] is None
