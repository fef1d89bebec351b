"""``python -m ser_core datasets {list,summary,labels,splits,cache} ...``

  list                                   the corpora this lab reads, with their layouts
  summary --corpus C[,C2] --root P[,P2]  files, speakers, counts per native emotion and
                                         speaker, skipped files and why (--labels SET adds
                                         the mapped class counts)
  labels [--labels SET]                  label sets and their mapping tables
  splits --corpus ... --root ... --protocol P [--folds K] [--seed S] [--labels SET]
                                         the folds of a protocol (--out FILE saves the JSON)
  cache --corpus ... --root ... [--sample-rate 16000] [--kind KIND]
                                         decode (and featurize) every file once into the cache

Protocols: leave-one-speaker-out (loso), speaker-kfold, leave-one-session-out, seed000,
cross-corpus (--train-corpora A --test-corpora B), speaker-dependent-random (labelled:
only for reproducing seeds 002/003).
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = "Corpora: ravdess, emodb, emovo, iemocap, tess, cremad, savee, esd, aesdd, seac, generic."


def register(sub) -> None:
    p = sub.add_parser("datasets", help="corpora: summaries, label sets, evaluation splits, cache",
                       description=__doc__.split("\n\n", 1)[1], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    p.set_defaults(handler=lambda args: (p.print_help(), 0)[1])

    def corpus_args(q, labels_default=None):
        q.add_argument("--corpus", required=True, help="corpus name(s), comma-separated")
        q.add_argument("--root", required=True, help="root folder(s), comma-separated, same order")
        q.add_argument("--labels", default=labels_default, metavar="SET",
                       help="label set: ekman7, iemocap4, native, native:<corpus>")
        q.add_argument("--json", action="store_true", help="print JSON")

    q = dsub.add_parser("list", help="the corpora this lab reads")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_list)

    q = dsub.add_parser("summary", help="counts per emotion and speaker, skipped files")
    corpus_args(q)
    q.add_argument("--no-check-audio", action="store_true", help="do not open each file's header")
    q.set_defaults(handler=cmd_summary)

    q = dsub.add_parser("labels", help="label sets and their mapping tables")
    q.add_argument("--labels", default=None, metavar="SET", help="one label set (default: all)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_labels)

    q = dsub.add_parser("splits", help="the folds of an evaluation protocol")
    corpus_args(q, labels_default="native")
    q.add_argument("--protocol", required=True, help="loso, speaker-kfold, leave-one-session-out, "
                   "seed000, cross-corpus, leave-one-corpus-out (loco), final, speaker-dependent-random")
    q.add_argument("--folds", type=int, default=None, help="k for speaker-kfold (5) or the random split (1)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--val-speakers", type=int, default=None, help="validation speakers per fold")
    q.add_argument("--train-corpora", default=None, help="cross-corpus: training corpora (comma-separated)")
    q.add_argument("--test-corpora", default=None, help="cross-corpus: test corpora (comma-separated)")
    q.add_argument("--test-fraction", type=float, default=0.2, help="random hold-out: test share")
    q.add_argument("--val-fraction", type=float, default=0.0, help="random split: validation share")
    q.add_argument("--out", default=None, metavar="FILE", help="write the split as JSON to FILE")
    q.set_defaults(handler=cmd_splits)

    q = dsub.add_parser("cache", help="decode (and featurize) every file once into the cache")
    q.add_argument("--corpus", required=True)
    q.add_argument("--root", required=True)
    q.add_argument("--sample-rate", type=int, default=16000)
    q.add_argument("--kind", default=None, help="also cache whole-utterance features of this kind")
    q.add_argument("--cache-dir", default=None, help="default: $SER_CACHE_DIR or <repo>/.cache/ser")
    q.set_defaults(handler=cmd_cache)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_list(args) -> int:
    from ser_core.data import corpus_info, list_corpora

    rows = [{"name": n, "title": corpus_info(n).title, "language": corpus_info(n).language,
             "labels": list(corpus_info(n).native_labels), "layout": corpus_info(n).layout}
            for n in list_corpora()]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['name']:<8} {r['title']} [{r['language']}]\n         layout: {r['layout']}")
            if r["labels"]:
                print(f"         labels: {', '.join(r['labels'])}")
    return 0


def _summaries(args) -> list[dict]:
    from ser_core.data import apply_label_set, load_corpus, parse_corpus_args

    out = []
    for name, root in parse_corpus_args(args.corpus, args.root):
        listing = load_corpus(name, root, check_audio=not getattr(args, "no_check_audio", False))
        s = listing.summary()
        if args.labels:
            mapped = apply_label_set(listing.utterances, args.labels)
            s["label_set"] = mapped.label_set.id
            s["by_label"] = mapped.class_counts()
            s["dropped"] = mapped.dropped.get(listing.corpus, {})
        out.append(s)
    return out


def cmd_summary(args) -> int:
    summaries = _summaries(args)
    if args.json:
        _print_json(summaries[0] if len(summaries) == 1 else summaries)
        return 0
    for s in summaries:
        print(f"{s['corpus']} at {s['root']}: {s['files']} files, {s['speakers']} speakers, "
              f"{len(s['skipped'])} skipped")
        print("  per emotion: " + ", ".join(f"{k} {v}" for k, v in s["by_emotion"].items()))
        print("  per speaker: " + ", ".join(f"{k} {v}" for k, v in s["by_speaker"].items()))
        print("  per gender:  " + ", ".join(f"{k} {v}" for k, v in s["by_gender"].items()))
        if "by_label" in s:
            print(f"  {s['label_set']}: " + ", ".join(f"{k} {v}" for k, v in s["by_label"].items())
                  + ("; dropped " + ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) if s["dropped"] else ""))
        for item in s["skipped"][:20]:
            print(f"  skipped {item['path']}: {item['reason']}")
        if len(s["skipped"]) > 20:
            print(f"  ... and {len(s['skipped']) - 20} more skipped (see --json)")
    return 0


def cmd_labels(args) -> int:
    from ser_core.data import get_label_set, list_label_sets

    names = [args.labels] if args.labels else [n for n in list_label_sets() if not n.endswith(":generic")]
    sets = [get_label_set(n) for n in names]
    if args.json:
        _print_json([s.to_dict() for s in sets] if len(sets) > 1 else sets[0].to_dict())
        return 0
    for s in sets:
        print(f"{s.id}: {', '.join(s.classes)}  -- {s.description}")
        for corpus in s.corpora():
            d = s.describe(corpus)
            if corpus == "generic":
                print(f"  generic  your labels matched by synonyms ({len(s.table(corpus))} words); others dropped")
                continue
            parts = []
            if d["renamed"]:
                parts.append("renamed " + ", ".join(f"{a}->{b}" for a, b in d["renamed"].items()))
            if d["merged"]:
                parts.append("merged " + ", ".join(f"{'+'.join(v)}->{k}" for k, v in d["merged"].items()))
            if d["dropped"]:
                parts.append("dropped " + ", ".join(d["dropped"]))
            print(f"  {corpus:<8} {'; '.join(parts) or 'unchanged'}" + (f"  ({d['note']})" if d["note"] else ""))
    return 0


def cmd_splits(args) -> int:
    from ser_core.data import load_labeled, make_split

    data = load_labeled(args.corpus, args.root, args.labels)
    split = make_split(
        data.utterances, args.protocol, folds=args.folds, seed=args.seed, val_speakers=args.val_speakers,
        train_corpora=args.train_corpora.split(",") if args.train_corpora else None,
        test_corpora=args.test_corpora.split(",") if args.test_corpora else None,
        test_fraction=args.test_fraction, val_fraction=args.val_fraction)
    if args.out:
        split.save(args.out)
    if args.json:
        _print_json({"data": data.to_dict(), "split": split.to_dict(),
                     "summary": split.summary(data.utterances)})
        return 0
    print(f"{split.protocol} {dict(split.params)}: {len(split)} folds, fingerprint {split.fingerprint}; "
          f"{len(data.utterances)} utterances, labels {data.label_set.id} ({', '.join(data.classes)})")
    if split.note:
        print(f"NOTE: {split.note}")
    if not split.speaker_independent:
        print("WARNING: speakers are shared between train and test in this split.")
    for group in split.duplicate_groups:
        print(f"identical audio kept together: {', '.join(group)}")
    several = len(data.corpora) > 1
    for row in split.summary(data.utterances):
        def spk(p):
            s = row[f"{p}_speakers"]
            if len(s) > 4:
                return f"{len(s)} spk"
            return ",".join(x if several else x.split(":", 1)[1] for x in s) or "-"
        print(f"  {row['fold']:<22} train {row['train']:>5} ({spk('train')})  val {row['val']:>4} ({spk('val')})"
              f"  test {row['test']:>4} ({spk('test')})" + (f"  excluded {row['excluded']}" if row["excluded"] else ""))
    if args.out:
        print(f"saved to {args.out}")
    return 0


def cmd_cache(args) -> int:
    from ser_core.data import load_corpus, parse_corpus_args
    from ser_core.data.cache import FeatureCache, default_cache

    cache = FeatureCache(args.cache_dir) if args.cache_dir else default_cache()
    if cache is None:
        print("error: caching is off (SER_CACHE_DIR=off)", file=sys.stderr)
        return 2
    paths = [u.path for name, root in parse_corpus_args(args.corpus, args.root)
             for u in load_corpus(name, root).utterances]

    def progress(i, n):
        if i == n or i % 200 == 0:
            print(f"  {i}/{n}", flush=True)

    cache.precompute(paths, args.kind, None, args.sample_rate, progress=progress)
    print(f"cached {len(paths)} files in {cache.root} (hits {cache.hits}, computed {cache.misses})")
    return 0
