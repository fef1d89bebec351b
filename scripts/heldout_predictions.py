"""Posteriors of the shipped checkpoints on speakers they never trained on, for calibration.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/heldout_predictions.py \
        [--cremad-every 3] [--out runs/heldout_predictions.json]

Per checkpoint (uncalibrated: temperature off): every utterance of the validation and test
speakers of any checkpoint's fold (``meta["protocol"]["speakers"]``) that this checkpoint did
not train on (its own held-back speakers at least), and CREMA-D (every ``--cremad-every``-th
clip by id; a rerun resumes, and every 6th clip is also every 3rd), for checkpoints that never
trained on CREMA-D (``--parts heldout`` for those that did, e.g. protocol ``final``). The acoustic
model is left out here; ``calibrate_shipped.py`` refits it without the scored clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch

    from ser_core.audio import load_audio
    from ser_core.checkpoint import find_checkpoints, read_meta
    from ser_core.data import load_labeled
    from ser_core.inference import InferenceService
    from ser_core.training.calibration import weights_sha256

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--checkpoints", default="checkpoints")
    ap.add_argument("--cremad-every", type=int, default=3)
    ap.add_argument("--out", default="runs/heldout_predictions.json")
    ap.add_argument("--stratified", action="store_true",
                    help="CREMA-D: every k-th clip within each emotion (a plain every-k-th by id "
                         "aliases with CREMA-D's file order, six emotions per sentence)")
    ap.add_argument("--parts", default="heldout,cremad", help="which parts to predict")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these checkpoints (folder names) only")
    ap.add_argument("--backend", default="auto",
                    help="what runs the models (auto, torch, onnxruntime, onnxruntime-int8): e.g. "
                         "what int8 costs on these speakers; use one --out per backend")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dirs = [d for d in find_checkpoints(args.checkpoints) if read_meta(d).model != "acoustic_stats"
            and (not args.only or d.name in args.only)]
    service = InferenceService.from_paths(dirs, device="cpu", strict=True, backend=args.backend)
    service.calibrate = False
    names = ["ravdess", "emodb", "emovo", "cremad"]
    data = load_labeled(names, [str(Path(args.data) / n) for n in names], "ekman7", check_audio=False)
    cremad = sorted((u for u in data.utterances if u.corpus == "cremad"), key=lambda u: u.uid)
    if args.stratified:
        cremad = [u for emo in sorted({u.label for u in cremad})
                  for u in [v for v in cremad if v.label == emo][:: args.cremad_every]]
    else:
        cremad = cremad[:: args.cremad_every]
    out = {"labels": list(data.classes), "models": {}, "backend": args.backend}
    if Path(args.out).is_file():  # resume: keep the checkpoints already done
        out = json.loads(Path(args.out).read_text())
    if "cremad" in args.parts.split(","):
        out["cremad_subset"] = (f"every {args.cremad_every}th clip of each emotion by id" if args.stratified
                                else f"every {args.cremad_every}th clip by id") + f" ({len(cremad)} clips)"
    by_spk = {}
    for u in data.utterances:
        by_spk.setdefault(u.speaker_key, []).append(u)
    t0 = time.time()
    # the candidates: every member's validation and test speakers; each member is scored on the
    # candidates it did not train on (its own held-back speakers, and e.g. another generation's
    # held-back speakers of a corpus it never heard), so the speakers *none* of them trained on
    # are in every member's part (calibrate_shipped.py scores that intersection)
    candidates = sorted({s for m in service.models
                         for s in m.meta.protocol["speakers"]["test"] + m.meta.protocol["speakers"]["val"]})
    for m in service.models:
        digest = weights_sha256(m.path)
        trained = set(m.meta.protocol["speakers"]["train"])
        if out["models"].get(m.name, {}).get("weights_sha256") == digest:
            continue  # done for these very weights (a retrained checkpoint is predicted again)
        held = [u for s in candidates if s not in trained for u in by_spk.get(s, [])]
        rows = {}
        for part, utts in (("heldout", held), ("cremad", cremad)):
            if part not in args.parts.split(","):
                continue
            probs = []
            for i, u in enumerate(utts):
                pred = service.predict(load_audio(u.path), names=[m.name]).models[0]
                probs.append([round(p, 6) for p in pred.probs])
                if i % 200 == 0:
                    print(f"{m.name} {part} {i}/{len(utts)} {time.time() - t0:.0f}s", flush=True)
            rows[part] = {"uids": [u.uid for u in utts], "speakers": [u.speaker_key for u in utts],
                          "labels": [u.label for u in utts], "probs": probs}
        out["models"][m.name] = {"labels": m.labels, "weights_sha256": digest, **rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out))
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
