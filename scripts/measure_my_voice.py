"""What "my voice" gives the deep models, on speakers none of them trained on.

    OMP_NUM_THREADS=1 python scripts/measure_my_voice.py [--checkpoints checkpoints]
        [--data ../shared/data] [--out runs/my_voice.json]

The checkpoints measured: those with ``speaker_reference.safetensors`` (the deep models'
training-speaker neutral means, ``scripts/fit_neutral_reference.py``). The speakers: every
validation and test speaker of their protocol that none of them trained on (for the final
fits: one of each per corpus, 8 speakers). Per speaker, every other neutral clip by id is the
reference ("my voice") and is never scored; all the speaker's other clips are scored with and
without it. Prints UA (ekman7 classes present), the top-class share and the consensus (mean of
the measured models) per corpus and over all, as the README shows them. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ua_share(y: list[str], p: list[str]) -> tuple[float, float]:
    from collections import Counter

    from sklearn.metrics import recall_score

    ua = recall_score(y, p, labels=sorted(set(y)), average="macro", zero_division=0)
    return 100 * ua, 100 * Counter(p).most_common(1)[0][1] / len(p)


def main() -> int:
    import torch

    from ser_core.audio import load_audio
    from ser_core.checkpoint import find_checkpoints, read_meta
    from ser_core.data import load_labeled
    from ser_core.inference import InferenceService
    from ser_core.reference import NEUTRAL_FILE, SpeakerReference, training_speakers

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default="checkpoints")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs/my_voice.json")
    ap.add_argument("--speakers", default="",
                    help="comma-separated corpus:speaker to score instead (e.g. a corpus the "
                         "checkpoints never heard); none of them may be a training speaker")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dirs = [d for d in find_checkpoints(args.checkpoints) if (d / NEUTRAL_FILE).is_file()]
    if not dirs:
        raise SystemExit(f"no checkpoint under {args.checkpoints} has {NEUTRAL_FILE}: run "
                         f"scripts/fit_neutral_reference.py --checkpoints {args.checkpoints} first")
    metas = [read_meta(d) for d in dirs]
    trained = set().union(*[set(training_speakers(m)) for m in metas])
    held = sorted({s for m in metas for part in ("val", "test")
                   for s in (m.protocol.get("speakers") or {}).get(part, [])} - trained)
    if args.speakers:
        held = sorted(s for s in args.speakers.split(",") if s)
        if set(held) & trained:
            raise SystemExit(f"trained on: {sorted(set(held) & trained)}")
    svc = InferenceService.from_paths(dirs, device="cpu", strict=True)
    svc.workers = 1
    names = ["ravdess", "emodb", "emovo", "cremad"]
    data = load_labeled(names, [str(Path(args.data) / n) for n in names], "ekman7", check_audio=False)
    by_spk = defaultdict(list)
    for u in data.utterances:
        by_spk[f"{u.corpus}:{u.speaker}"].append(u)
    rows = []  # (speaker, corpus, true, {model: (plain, mine)}, consensus plain, consensus mine)
    t0 = time.perf_counter()
    for spk in held:
        utts = sorted(by_spk[spk], key=lambda u: u.uid)
        neutral = [u for u in utts if u.label == "neutral"]
        ref_utts = neutral[::2]
        ref = SpeakerReference.from_audio([load_audio(u.path, target_sr=16000) for u in ref_utts],
                                          min_seconds=0.0)
        for u in utts:
            if u in ref_utts:
                continue
            audio = load_audio(u.path, target_sr=16000)
            plain, mine = svc.predict(audio), svc.predict(audio, reference=ref)
            rows.append({"speaker": spk, "corpus": u.corpus, "true": u.label,
                         "models": {a.name: [a.top, b.top] for a, b in zip(plain.models, mine.models)},
                         "consensus": [plain.consensus.top, mine.consensus.top]})
        print(f"{spk}: {len(ref_utts)} reference clips ({ref.duration_s:.0f} s), "
              f"{sum(r['speaker'] == spk for r in rows)} scored, {time.perf_counter() - t0:.0f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"speakers": held, "checkpoints": [str(d) for d in dirs],
                                          "rows": rows}, indent=1))
    corpora = sorted({r["corpus"] for r in rows})
    print(f"\nUA % without → with the speaker's neutral reference (top-class share %), "
          f"{len(held)} speakers none of the checkpoints trained on, {len(rows)} clips")
    print("| model | " + " | ".join(corpora) + " | all |")
    print("|---" * (len(corpora) + 2) + "|")
    for name in [m.name for m in svc.models] + ["consensus"]:
        cells = []
        for scope in corpora + ["all"]:
            sel = [r for r in rows if scope in ("all", r["corpus"])]
            pick = (lambda r, i: r["consensus"][i]) if name == "consensus" else (lambda r, i: r["models"][name][i])
            y = [r["true"] for r in sel]
            (a, sa), (b, sb) = ua_share(y, [pick(r, 0) for r in sel]), ua_share(y, [pick(r, 1) for r in sel])
            cells.append(f"{a:.1f} → {b:.1f} ({sa:.0f} → {sb:.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
