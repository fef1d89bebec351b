"""Store each deep checkpoint's training-speaker neutral input means ("my voice" for deep models).

    OMP_NUM_THREADS=1 python scripts/fit_neutral_reference.py [--checkpoints checkpoints]
        [--data ../shared/data] [--only glam,acrnn_small]

For every checkpoint whose input has feature bins (not ``serct_small``'s raw waveform, not
``acoustic_stats``, which has its own reference head) and whose ``protocol.speakers.train``
lists its training speakers (a training run's fold checkpoint: its fold's training speakers
in the run's ``splits.json``), and whose features are not centred (``center_time``): the
*neutral* utterances of those speakers (label set ``ekman7``), each cut to its speech and into
the model's segments as the inference service cuts a clip; the mean of the model's normalised
input per feature bin, per speaker, then over speakers; written to
``<checkpoint>/speaker_reference.safetensors`` (see :mod:`ser_core.reference`). The
checkpoint's weights and config are not touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch
    from safetensors.torch import save_file

    from ser_core.audio import load_audio
    from ser_core.checkpoint import find_checkpoints, read_meta
    from ser_core.data import load_labeled
    from ser_core.inference import InferenceService
    from ser_core.reference import NEUTRAL_FILE, input_bin_means, training_speakers

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default="checkpoints")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--only", default="", help="comma-separated checkpoint folder names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = {n for n in args.only.split(",") if n}
    dirs = [d for d in find_checkpoints(args.checkpoints)
            if (not only or d.name in only) and read_meta(d).model not in ("acoustic_stats", "serct")]
    names = ["ravdess", "emodb", "emovo", "cremad"]
    data = load_labeled(names, [str(Path(args.data) / n) for n in names], "ekman7", check_audio=False)
    neutral = defaultdict(list)  # "corpus:speaker" -> utterances
    for u in data.utterances:
        if u.label == "neutral":
            neutral[f"{u.corpus}:{u.speaker}"].append(u)
    audio_cache: dict[str, torch.Tensor] = {}
    for d in dirs:
        meta = read_meta(d)
        speakers = [s for s in training_speakers(meta) if s in neutral]
        if not speakers:
            print(f"{d.name}: no training speakers with neutral speech listed; skipped")
            continue
        entry = InferenceService.from_paths([d], device="cpu", strict=True).models[0]
        t0, per_speaker, clips = time.perf_counter(), [], 0
        with torch.inference_mode():
            for spk in speakers:
                waves = []
                for u in neutral[spk]:
                    if u.path not in audio_cache:
                        audio_cache[u.path] = load_audio(u.path, target_sr=entry.sample_rate).waveform
                    waves.append(audio_cache[u.path])
                means = input_bin_means(entry, waves)
                if means is None:
                    break
                per_speaker.append(means)
                clips += len(waves)
        if not per_speaker:
            print(f"{d.name}: its input has no feature bins, or they are centred on each "
                  "segment's own mean (center_time); skipped")
            continue
        stacked = {k: torch.stack([m[k] for m in per_speaker]).mean(0).contiguous() for k in per_speaker[0]}
        info = {"what": "mean normalised model input per feature bin over the neutral speech of "
                        "the checkpoint's training speakers (each speaker's mean, then their mean)",
                "speakers": str(len(per_speaker)), "clips": str(clips), "label_set": "ekman7",
                "script": "scripts/fit_neutral_reference.py"}
        save_file(stacked, str(d / NEUTRAL_FILE), metadata=info)
        print(f"{d.name}: {len(per_speaker)} speakers, {clips} neutral clips, "
              f"{json.dumps({k: list(v.shape) for k, v in stacked.items()})}, "
              f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
