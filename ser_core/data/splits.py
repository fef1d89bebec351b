"""Evaluation protocols: folds of train / validation / test utterance ids.

Speaker-independent protocols (speakers never shared between parts of a fold):

- ``leave-one-speaker-out``: one fold per speaker, that speaker is the test set;
  ``val_speakers`` more speakers per fold form the validation set.
- ``speaker-kfold``: speakers shuffled with ``seed`` and dealt into ``k`` groups of
  balanced utterance counts; each group is the test set once.
- ``leave-one-session-out``: IEMOCAP's five sessions (any corpus with a ``session`` field).
- ``seed000``: seed 000's scheme, generalised to N speakers: N folds, each with 1 test
  speaker, 1 validation speaker and N-2 training speakers (IEMOCAP: 8/1/1). When the corpus
  has sessions of two speakers (IEMOCAP), the validation speaker is the test speaker's
  session partner, as in the ACRNN recipe; otherwise it is the next speaker in a seeded order.
- ``cross-corpus``: train (and validate) on corpora A, test on corpora B; one fold.
- ``leave-one-corpus-out``: one fold per corpus: train (and validate) on all the others,
  test on every utterance of the one left out whose class the training part has (the others
  are excluded, with the reason). Needs at least two corpora.
- ``final``: the fit that is shipped, after the other protocols have measured the recipe: one
  fold that trains on every speaker but a few held back in each corpus, ``val_speakers``
  (default 1) for early stopping and calibration and ``test_speakers`` (default 1) whose
  score is a sanity check of this one model, not a measurement of the recipe.

And one that is not speaker-independent, labelled as such everywhere it goes:

- ``speaker-dependent-random``: random stratified hold-out (``folds=1``) or k-fold split of
  utterances, speakers shared between parts. Only to reproduce seeds 002/003, which used one.

Every split is checked when built (:meth:`Split.check`): no utterance in two parts,
speakers disjoint (speaker-independent protocols), and every group of exact-duplicate audio
(:func:`ser_core.data.duplicates.duplicate_groups`) in one part: a duplicate that would land
in another part than its twin is *excluded* from that fold (listed with the reason).
Splits are deterministic given the utterances, the parameters and ``seed``; they serialise
to JSON (:meth:`Split.to_dict`) so they are saved with results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ser_core.data.records import Utterance
from ser_core.errors import ConfigError

PARTS = ("train", "val", "test")
SPEAKER_DEPENDENT_NOTE = (
    "SPEAKER-DEPENDENT random split: the same speakers appear in training and test. Only for "
    "reproducing seeds 002/003; its numbers are not comparable with speaker-independent results.")

PROTOCOLS = ("leave-one-speaker-out", "speaker-kfold", "leave-one-session-out", "seed000",
             "cross-corpus", "leave-one-corpus-out", "final", "speaker-dependent-random")
ALIASES = {"loso": "leave-one-speaker-out", "kfold": "speaker-kfold", "speaker-k-fold": "speaker-kfold",
           "loso-session": "leave-one-session-out", "session": "leave-one-session-out",
           "losession": "leave-one-session-out", "seed-000": "seed000", "cross": "cross-corpus",
           "loco": "leave-one-corpus-out", "final-fit": "final", "all-speakers": "final",
           "random": "speaker-dependent-random"}


class LeakageError(AssertionError):
    """A split violates speaker disjointness or duplicate grouping (a programming error)."""


@dataclass(frozen=True)
class Fold:
    name: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    speakers: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    excluded: tuple[tuple[str, str], ...] = ()

    def part(self, name: str) -> tuple[str, ...]:
        if name not in PARTS:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": list(self.train), "val": list(self.val),
                "test": list(self.test),
                "speakers": {p: list(self.speakers.get(p, ())) for p in PARTS},
                "excluded": [list(e) for e in self.excluded]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Fold":
        return cls(name=d["name"], train=tuple(d["train"]), val=tuple(d["val"]), test=tuple(d["test"]),
                   speakers={p: tuple(d.get("speakers", {}).get(p, ())) for p in PARTS},
                   excluded=tuple(tuple(e) for e in d.get("excluded", ())))


@dataclass(frozen=True)
class Split:
    protocol: str
    params: Mapping[str, Any]
    speaker_independent: bool
    folds: tuple[Fold, ...]
    duplicate_groups: tuple[tuple[str, ...], ...] = ()
    note: str = ""

    def __len__(self) -> int:
        return len(self.folds)

    def __iter__(self):
        return iter(self.folds)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex) of the fold contents: equal splits, equal fingerprints."""
        body = json.dumps([[f.name, sorted(f.train), sorted(f.val), sorted(f.test)] for f in self.folds])
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "params": dict(self.params),
                "speaker_independent": self.speaker_independent, "note": self.note,
                "fingerprint": self.fingerprint,
                "duplicate_groups": [list(g) for g in self.duplicate_groups],
                "folds": [f.to_dict() for f in self.folds]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Split":
        split = cls(protocol=d["protocol"], params=dict(d.get("params", {})),
                    speaker_independent=bool(d["speaker_independent"]),
                    folds=tuple(Fold.from_dict(f) for f in d["folds"]),
                    duplicate_groups=tuple(tuple(g) for g in d.get("duplicate_groups", ())),
                    note=d.get("note", ""))
        if d.get("fingerprint") and d["fingerprint"] != split.fingerprint:
            raise ConfigError("The saved split does not match its fingerprint (edited or corrupt).")
        return split

    def save(self, path: str | Path) -> Path:
        from ser_core.data.atomic import atomic_write_bytes

        return atomic_write_bytes(Path(path), self.to_json().encode())

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def select(self, fold: int | Fold, part: str, utterances: Iterable[Utterance]) -> list[Utterance]:
        """The utterances of one part of a fold, in the fold's order."""
        f = self.folds[fold] if isinstance(fold, int) else fold
        by_uid = {u.uid: u for u in utterances}
        missing = [uid for uid in f.part(part) if uid not in by_uid]
        if missing:
            raise ConfigError(f"{len(missing)} utterances of the split are not in the data "
                              f"(first: {missing[0]}); was it made from another corpus copy?")
        return [by_uid[uid] for uid in f.part(part)]

    def check(self, utterances: Iterable[Utterance] | None = None) -> None:
        """Raise :class:`LeakageError` if any fold leaks (see module docstring)."""
        speaker_of = {u.uid: u.speaker_key for u in utterances} if utterances is not None else None
        for f in self.folds:
            seen: dict[str, str] = {}
            for p in PARTS:
                for uid in f.part(p):
                    if uid in seen:
                        raise LeakageError(f"fold {f.name}: {uid} is in both {seen[uid]} and {p}")
                    seen[uid] = p
            if self.speaker_independent:
                part_of_speaker: dict[str, str] = {}
                for p in PARTS:
                    spk = ({speaker_of[uid] for uid in f.part(p) if uid in speaker_of}
                           if speaker_of is not None else set(f.speakers.get(p, ())))
                    for s in spk:
                        if part_of_speaker.setdefault(s, p) != p:
                            raise LeakageError(f"fold {f.name}: speaker {s} is in both "
                                               f"{part_of_speaker[s]} and {p}")
            for group in self.duplicate_groups:
                parts = {seen[uid] for uid in group if uid in seen}
                if len(parts) > 1:
                    raise LeakageError(f"fold {f.name}: identical audio {list(group)} split across {sorted(parts)}")

    def summary(self, utterances: Iterable[Utterance] | None = None) -> list[dict[str, Any]]:
        """Per fold: sizes and speakers of each part (and label counts if utterances given)."""
        by_uid = {u.uid: u for u in utterances} if utterances is not None else {}
        rows = []
        for f in self.folds:
            row: dict[str, Any] = {"fold": f.name}
            for p in PARTS:
                ids = f.part(p)
                row[p] = len(ids)
                row[f"{p}_speakers"] = list(f.speakers.get(p, ()))
                if by_uid:
                    row[f"{p}_labels"] = dict(sorted(Counter(
                        by_uid[i].label or by_uid[i].emotion for i in ids if i in by_uid).items()))
            row["excluded"] = len(f.excluded)
            rows.append(row)
        return rows


# --------------------------------------------------------------------------- building blocks

def _speakers(utterances: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    by: dict[str, list[Utterance]] = defaultdict(list)
    for u in utterances:
        by[u.speaker_key].append(u)
    return dict(sorted(by.items()))


def _need_speakers(by_speaker: Mapping[str, list], n: int, protocol: str) -> None:
    if len(by_speaker) >= n:
        return
    unknown = [s for s in by_speaker if s.endswith(":unknown")]
    hint = (" The data has no speaker information: give a CSV with a speaker column or "
            "put files in <emotion>/<speaker>/ folders." if unknown else "")
    raise ConfigError(f"{protocol} needs at least {n} speakers; the data has {len(by_speaker)}.{hint}")


def _shuffled(items: Iterable[str], seed: int | str) -> list[str]:
    out = sorted(items)
    random.Random(f"ser:{seed}").shuffle(out)
    return out


def _fold_from_speakers(name: str, by_speaker: Mapping[str, list[Utterance]], test: Iterable[str],
                        val: Iterable[str], groups: Sequence[Sequence[str]]) -> Fold:
    test, val = set(test), set(val)
    if test & val:
        raise LeakageError(f"fold {name}: speakers {sorted(test & val)} in both val and test")
    part_of = {}
    for spk, utts in by_speaker.items():
        p = "test" if spk in test else "val" if spk in val else "train"
        for u in utts:
            part_of[u.uid] = p
    return _finish_fold(name, by_speaker, part_of, groups)


def _finish_fold(name: str, by_speaker: Mapping[str, list[Utterance]], part_of: dict[str, str],
                 groups: Sequence[Sequence[str]]) -> Fold:
    """Exclude duplicates that landed away from their twin's (earliest) part; build the Fold."""
    excluded = []
    rank = {p: i for i, p in enumerate(PARTS)}
    for group in groups:
        present = [uid for uid in group if uid in part_of]
        if len({part_of[uid] for uid in present}) <= 1:
            continue
        keep_part = min((part_of[uid] for uid in present), key=rank.__getitem__)
        anchor = next(uid for uid in present if part_of[uid] == keep_part)
        for uid in present:
            if part_of[uid] != keep_part:
                excluded.append((uid, f"identical audio to {anchor} in {keep_part}"))
                del part_of[uid]
    parts: dict[str, list[str]] = {p: [] for p in PARTS}
    speakers: dict[str, set[str]] = {p: set() for p in PARTS}
    for spk, utts in by_speaker.items():
        for u in utts:
            p = part_of.get(u.uid)
            if p is not None:
                parts[p].append(u.uid)
                speakers[p].add(spk)
    return Fold(name=name, train=tuple(sorted(parts["train"])), val=tuple(sorted(parts["val"])),
                test=tuple(sorted(parts["test"])), speakers={p: tuple(sorted(speakers[p])) for p in PARTS},
                excluded=tuple(sorted(excluded)))


def _pick_val(candidates: Sequence[str], n: int, seed: int | str) -> list[str]:
    if n <= 0:
        return []
    if n > len(candidates) - 1:
        raise ConfigError(f"{n} validation speakers would leave fewer than one training speaker "
                          f"(only {len(candidates)} speakers outside the test set).")
    return _shuffled(candidates, seed)[:n]


def _build(protocol: str, params: dict, folds: list[Fold], groups, independent=True, note="") -> Split:
    split = Split(protocol=protocol, params=params, speaker_independent=independent,
                  folds=tuple(folds), duplicate_groups=tuple(tuple(g) for g in groups), note=note)
    split.check()
    for f in split.folds:
        if not f.train or not f.test:
            raise ConfigError(f"{protocol}: fold {f.name} has an empty training or test set.")
    return split


# ----------------------------------------------------------------------------- protocols

def leave_one_speaker_out(utterances: Sequence[Utterance], *, val_speakers: int = 0, seed: int = 0,
                          duplicates: Sequence[Sequence[str]] = ()) -> Split:
    by = _speakers(utterances)
    _need_speakers(by, 2 + val_speakers, "leave-one-speaker-out")
    folds = []
    for spk in by:
        others = [s for s in by if s != spk]
        folds.append(_fold_from_speakers(spk, by, [spk], _pick_val(others, val_speakers, f"{seed}:{spk}"),
                                         duplicates))
    return _build("leave-one-speaker-out", {"val_speakers": val_speakers, "seed": seed}, folds, duplicates)


def speaker_kfold(utterances: Sequence[Utterance], *, k: int = 5, val_speakers: int = 0, seed: int = 0,
                  duplicates: Sequence[Sequence[str]] = ()) -> Split:
    by = _speakers(utterances)
    if k < 2:
        raise ConfigError("speaker-kfold needs k >= 2.")
    _need_speakers(by, k, f"speaker-kfold with k={k}")
    order = _shuffled(by, seed)
    position = {s: i for i, s in enumerate(order)}
    # Largest speakers first (ties in seeded order), each to the currently smallest group.
    groups: list[list[str]] = [[] for _ in range(k)]
    sizes = [0] * k
    for spk in sorted(order, key=lambda s: (-len(by[s]), position[s])):
        i = min(range(k), key=lambda j: (sizes[j], len(groups[j]), j))
        groups[i].append(spk)
        sizes[i] += len(by[spk])
    folds = []
    for i, test in enumerate(groups):
        others = [s for s in by if s not in test]
        val = _pick_val(others, val_speakers, f"{seed}:fold{i}")
        folds.append(_fold_from_speakers(f"fold{i + 1}", by, test, val, duplicates))
    return _build("speaker-kfold", {"k": k, "val_speakers": val_speakers, "seed": seed}, folds, duplicates)


def _session(u: Utterance) -> str:
    s = u.extra.get("session")
    if s is None:
        raise ConfigError(f"leave-one-session-out needs sessions; {u.corpus} utterances have none "
                          "(only IEMOCAP has sessions).")
    return f"{u.corpus}:session{s}"


def leave_one_session_out(utterances: Sequence[Utterance], *, val_speakers: int = 0, seed: int = 0,
                          duplicates: Sequence[Sequence[str]] = ()) -> Split:
    by = _speakers(utterances)
    sessions: dict[str, set[str]] = defaultdict(set)
    for u in utterances:
        sessions[_session(u)].add(u.speaker_key)
    if len(sessions) < 2:
        raise ConfigError(f"leave-one-session-out needs at least 2 sessions; the data has {len(sessions)}.")
    for spk in by:
        owners = [s for s, members in sessions.items() if spk in members]
        if len(owners) > 1:
            raise ConfigError(f"speaker {spk} appears in sessions {owners}: sessions are not speaker-disjoint.")
    folds = []
    for name, members in sorted(sessions.items()):
        others = [s for s in by if s not in members]
        val = _pick_val(others, val_speakers, f"{seed}:{name}")
        folds.append(_fold_from_speakers(name.split(":", 1)[1], by, members, val, duplicates))
    return _build("leave-one-session-out", {"val_speakers": val_speakers, "seed": seed}, folds, duplicates)


def seed000_folds(utterances: Sequence[Utterance], *, seed: int = 0,
                  duplicates: Sequence[Sequence[str]] = ()) -> Split:
    by = _speakers(utterances)
    _need_speakers(by, 3, "seed000 (1 test, 1 validation, >= 1 training speaker)")
    partner: dict[str, str] = {}
    sessions: dict[str, set[str]] = defaultdict(set)
    if all(u.extra.get("session") is not None for u in utterances):
        for u in utterances:
            sessions[_session(u)].add(u.speaker_key)
        if all(len(m) == 2 for m in sessions.values()):
            for members in sessions.values():
                a, b = sorted(members)
                partner[a], partner[b] = b, a
    order = _shuffled(by, seed)
    folds = []
    for spk in by:
        val = partner.get(spk) or order[(order.index(spk) + 1) % len(order)]
        folds.append(_fold_from_speakers(spk, by, [spk], [val], duplicates))
    rule = "session partner" if partner else "next speaker in seeded order"
    return _build("seed000", {"seed": seed, "validation": rule}, folds, duplicates,
                  note="seed 000: per fold 1 test speaker, 1 validation speaker, the rest train.")


def cross_corpus(utterances: Sequence[Utterance], *, train_corpora: Sequence[str],
                 test_corpora: Sequence[str], val_speakers: int = 0, seed: int = 0,
                 duplicates: Sequence[Sequence[str]] = ()) -> Split:
    train_c, test_c = sorted(set(train_corpora)), sorted(set(test_corpora))
    if not train_c or not test_c:
        raise ConfigError("cross-corpus needs training corpora and test corpora.")
    if set(train_c) & set(test_c):
        raise ConfigError(f"cross-corpus: {sorted(set(train_c) & set(test_c))} is both a training and a test corpus.")
    present = {u.corpus for u in utterances}
    for c in train_c + test_c:
        if c not in present:
            raise ConfigError(f"cross-corpus: corpus {c!r} is not in the loaded data ({', '.join(sorted(present))}).")
    use = [u for u in utterances if u.corpus in train_c or u.corpus in test_c]
    by = _speakers(use)
    train_spk = [s for s in by if s.split(":", 1)[0] in train_c]
    test_spk = [s for s in by if s.split(":", 1)[0] in test_c]
    val = _pick_val(train_spk, val_speakers, f"{seed}:cross")
    fold = _fold_from_speakers(f"{'+'.join(train_c)}->{'+'.join(test_c)}", by, test_spk, val, duplicates)
    return _build("cross-corpus", {"train_corpora": train_c, "test_corpora": test_c,
                                   "val_speakers": val_speakers, "seed": seed}, [fold], duplicates)


def _restrict_test_classes(fold: Fold, by_uid: Mapping[str, Utterance]) -> Fold:
    """``fold`` without the test utterances whose class no training utterance has."""
    def cls(uid: str) -> str:
        return by_uid[uid].label or by_uid[uid].emotion

    trained = {cls(uid) for uid in fold.train}
    drop = [uid for uid in fold.test if cls(uid) not in trained]
    if not drop:
        return fold
    why = [(uid, f"class {cls(uid)!r} is not in the training data") for uid in drop]
    test = tuple(uid for uid in fold.test if cls(uid) in trained)
    speakers = dict(fold.speakers)
    speakers["test"] = tuple(sorted({by_uid[uid].speaker_key for uid in test}))
    return dataclasses.replace(fold, test=test, speakers=speakers,
                               excluded=tuple(sorted(fold.excluded + tuple(why))))


def leave_one_corpus_out(utterances: Sequence[Utterance], *, val_speakers: int = 0, seed: int = 0,
                         duplicates: Sequence[Sequence[str]] = (), val_per_corpus: bool = False) -> Split:
    """One fold per corpus: train on the others, test on that corpus (classes the training
    part has); ``val_speakers`` validation speakers drawn from the training corpora's pool, or,
    with ``val_per_corpus``, ``val_speakers`` from *each* training corpus (as :func:`final_fit`
    holds back, so that early stopping hears every corpus: drawn from the pool, CREMA-D's many
    speakers would fill most of the validation set)."""
    corpora = sorted({u.corpus for u in utterances})
    if len(corpora) < 2:
        raise ConfigError(f"leave-one-corpus-out needs at least two corpora; the data has "
                          f"{len(corpora)} ({', '.join(corpora)}).")
    by = _speakers(utterances)
    by_uid = {u.uid: u for u in utterances}
    folds = []
    for corpus in corpora:
        test_spk = [s for s in by if s.split(":", 1)[0] == corpus]
        train_spk = [s for s in by if s.split(":", 1)[0] != corpus]
        if val_per_corpus:
            val = [v for c in sorted({s.split(":", 1)[0] for s in train_spk})
                   for v in _pick_val([s for s in train_spk if s.split(":", 1)[0] == c],
                                      val_speakers, f"{seed}:loco:{corpus}:{c}")]
        else:
            val = _pick_val(train_spk, val_speakers, f"{seed}:loco:{corpus}")
        fold = _fold_from_speakers(corpus, by, test_spk, val, duplicates)
        folds.append(_restrict_test_classes(fold, by_uid))
    params = {"corpora": corpora, "val_speakers": val_speakers, "seed": seed}
    if val_per_corpus:
        params["val_per_corpus"] = True
    return _build("leave-one-corpus-out", params, folds, duplicates,
                  note="leave-one-corpus-out: each fold tests one corpus none of its training "
                       "speakers come from.")


def final_fit(utterances: Sequence[Utterance], *, val_speakers: int = 1, test_speakers: int = 1,
              seed: int = 0, duplicates: Sequence[Sequence[str]] = ()) -> Split:
    """One fold: every speaker trains except, in each corpus, ``val_speakers`` validation and
    ``test_speakers`` test speakers (seeded draw). Held back per corpus, not over the pool, so
    that early stopping and the sanity test hear every corpus (CREMA-D alone has more
    speakers than the other corpora together)."""
    by = _speakers(utterances)
    val: list[str] = []
    test: list[str] = []
    for corpus in sorted({s.split(":", 1)[0] for s in by}):
        speakers = _shuffled([s for s in by if s.split(":", 1)[0] == corpus], f"{seed}:final:{corpus}")
        if len(speakers) < val_speakers + test_speakers + 1:
            raise ConfigError(f"final: corpus {corpus} has {len(speakers)} speaker(s); holding back "
                              f"{val_speakers} validation and {test_speakers} test speaker(s) "
                              "would leave none to train on.")
        test += speakers[:test_speakers]
        val += speakers[test_speakers:test_speakers + val_speakers]
    fold = _fold_from_speakers("final", by, test, val, duplicates)
    return _build("final", {"val_speakers": val_speakers, "test_speakers": test_speakers,
                            "seed": seed, "per": "corpus"}, [fold], duplicates,
                  note="final fit: trained on every speaker but the few held back per corpus; "
                       "its test score is one model on a few speakers, not the recipe's measure.")


def speaker_dependent_random(utterances: Sequence[Utterance], *, folds: int = 1, test_fraction: float = 0.2,
                             val_fraction: float = 0.0, seed: int = 0, stratify: bool = True,
                             duplicates: Sequence[Sequence[str]] = ()) -> Split:
    """Random utterance-level split (NOT speaker-independent). ``folds=1``: one hold-out with
    ``test_fraction`` for test; ``folds=k``: k-fold, each utterance tested once. Duplicate
    groups are kept whole; ``val_fraction`` of the remaining (training) utterances validate."""
    if folds < 1 or not 0.0 < test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0:
        raise ConfigError("speaker-dependent-random needs folds >= 1, 0 < test_fraction < 1, 0 <= val_fraction < 1.")
    utts = list(utterances)
    by_uid = {u.uid: u for u in utts}
    # Units: duplicate groups stay whole.
    unit_of: dict[str, str] = {}
    for g in duplicates:
        for uid in g:
            if uid in by_uid:
                unit_of[uid] = min(x for x in g if x in by_uid)
    units: dict[str, list[str]] = defaultdict(list)
    for u in utts:
        units[unit_of.get(u.uid, u.uid)].append(u.uid)
    strata: dict[str, list[str]] = defaultdict(list)
    for key in sorted(units):
        u = by_uid[key]
        strata[(u.label or u.emotion) if stratify else "all"].append(key)
    rng = random.Random(f"ser:{seed}")
    ordered: dict[str, list[str]] = {}
    for label in sorted(strata):
        keys = strata[label][:]
        rng.shuffle(keys)
        ordered[label] = keys

    def deal(keys: list[str], parts: int) -> list[list[str]]:
        return [keys[i::parts] for i in range(parts)]

    n_folds = folds
    by_spk = _speakers(utts)
    out = []
    for i in range(n_folds):
        test_units, rest_units = [], []
        for label, keys in ordered.items():
            if n_folds == 1:
                n_test = int(round(len(keys) * test_fraction))
                test_units += keys[:n_test]
                rest_units += keys[n_test:]
            else:
                dealt = deal(keys, n_folds)
                test_units += dealt[i]
                rest_units += [k for j, d in enumerate(dealt) if j != i for k in d]
        val_units = []
        if val_fraction > 0:
            rest_by_label: dict[str, list[str]] = defaultdict(list)
            for k in rest_units:
                rest_by_label[(by_uid[k].label or by_uid[k].emotion) if stratify else "all"].append(k)
            vrng = random.Random(f"ser:{seed}:val{i}")
            for label in sorted(rest_by_label):
                keys = sorted(rest_by_label[label])
                vrng.shuffle(keys)
                val_units += keys[: int(round(len(keys) * val_fraction))]
        part_of = {}
        for p, keys in (("test", test_units), ("val", val_units)):
            for k in keys:
                for uid in units[k]:
                    part_of[uid] = p
        for u in utts:
            part_of.setdefault(u.uid, "train")
        out.append(_finish_fold("holdout" if n_folds == 1 else f"fold{i + 1}", by_spk, part_of, duplicates))
    return _build("speaker-dependent-random",
                  {"folds": folds, "test_fraction": test_fraction if folds == 1 else round(1 / folds, 6),
                   "val_fraction": val_fraction, "seed": seed, "stratify": stratify},
                  out, duplicates, independent=False, note=SPEAKER_DEPENDENT_NOTE)


# ------------------------------------------------------------------------------ dispatcher

def canonical_protocol(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}.")
    return key


def make_split(utterances: Sequence[Utterance], protocol: str, *, folds: int | None = None, seed: int = 0,
               val_speakers: int | None = None, train_corpora: Sequence[str] | None = None,
               test_corpora: Sequence[str] | None = None, test_fraction: float = 0.2,
               val_fraction: float = 0.0, duplicates: Sequence[Sequence[str]] | str | None = "detect",
               val_per_corpus: bool = False) -> Split:
    """Build a split by protocol name (see module docstring).

    ``duplicates="detect"`` finds exact-duplicate audio by content
    (:func:`~ser_core.data.duplicates.duplicate_groups`); pass precomputed groups, or None
    to skip the check. ``folds`` is k for ``speaker-kfold`` (default 5) and for
    ``speaker-dependent-random`` (default 1 = hold-out).
    """
    protocol = canonical_protocol(protocol)
    utterances = list(utterances)
    if not utterances:
        raise ConfigError("There are no utterances to split.")
    uids = [u.uid for u in utterances]
    if len(set(uids)) != len(uids):
        dup = next(uid for uid, n in Counter(uids).items() if n > 1)
        raise ConfigError(f"utterance id {dup} appears twice (the same corpus loaded twice?).")
    if duplicates == "detect":
        from ser_core.data.duplicates import duplicate_groups

        groups = duplicate_groups(utterances)
    else:
        groups = [list(g) for g in (duplicates or ())]
    vs = 0 if val_speakers is None else int(val_speakers)
    if val_per_corpus and protocol not in ("leave-one-corpus-out", "final"):
        raise ConfigError(f"validation speakers per corpus are a leave-one-corpus-out option "
                          f"(final always holds back per corpus), not one of {protocol}.")
    if protocol == "leave-one-speaker-out":
        return leave_one_speaker_out(utterances, val_speakers=vs, seed=seed, duplicates=groups)
    if protocol == "speaker-kfold":
        return speaker_kfold(utterances, k=folds or 5, val_speakers=vs, seed=seed, duplicates=groups)
    if protocol == "leave-one-session-out":
        return leave_one_session_out(utterances, val_speakers=vs, seed=seed, duplicates=groups)
    if protocol == "seed000":
        return seed000_folds(utterances, seed=seed, duplicates=groups)
    if protocol == "cross-corpus":
        if not train_corpora or not test_corpora:
            raise ConfigError("cross-corpus needs train_corpora and test_corpora (e.g. --train iemocap --test seac).")
        return cross_corpus(utterances, train_corpora=train_corpora, test_corpora=test_corpora,
                            val_speakers=vs, seed=seed, duplicates=groups)
    if protocol == "leave-one-corpus-out":
        return leave_one_corpus_out(utterances, val_speakers=vs, seed=seed, duplicates=groups,
                                    val_per_corpus=val_per_corpus)
    if protocol == "final":
        return final_fit(utterances, val_speakers=1 if val_speakers is None else vs, seed=seed,
                         duplicates=groups)
    return speaker_dependent_random(utterances, folds=folds or 1, test_fraction=test_fraction,
                                    val_fraction=val_fraction, seed=seed, duplicates=groups)
