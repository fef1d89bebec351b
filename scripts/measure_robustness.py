"""Full-band vs band-limited, and loud vs quiet, copies of the same utterances through the
shipped models.

    python scripts/measure_robustness.py [--clips 60] [--checkpoints checkpoints] [--no-vad]

EMOVO is recorded at 48 kHz, so at the models' 16 kHz it is full band (up to 8 kHz), like a
browser microphone; its copy through 11 025 Hz is what RAVDESS and Emo-DB look like in
../shared/data. For every model the script prints, for the band-limited copy and for a copy
20 dB quieter, the mean and largest total-variation distance between the two posteriors of a
clip and the share of clips whose top class agrees — as shipped (5.5 kHz low-pass and level
normalisation) and with the safeguard that matters for that copy switched off at inference. Not a test: a measurement
(``tests/test_shipped_checkpoints.py`` asserts the shipped side).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from ser_core.audio import load_audio
    from ser_core.inference import InferenceService
    from ser_core.robustness import band_limited_copy, compare_copies, gain_copy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--no-vad", action="store_true",
                    help="no voice activity detection (the safeguards alone: a detector's "
                         "speech boundaries themselves move with the level and the band)")
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--data", default=os.environ.get("SER_DATA_ROOT", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    files = sorted((Path(args.data) / "emovo").rglob("*.flac"))
    if not files:
        print(f"no EMOVO under {args.data}", file=sys.stderr)
        return 2
    step = max(1, len(files) // args.clips)
    clips = [load_audio(f) for f in files[::step][: args.clips]]
    service = InferenceService.from_paths([args.checkpoints], device="cpu", vad=not args.no_vad)
    fmt = lambda r: f"{r['tv_mean']:.3f} / {r['tv_max']:.3f}, {100 * r['agreement']:.0f} %"
    print(f"{len(clips)} EMOVO clips, voice activity detection {'off' if args.no_vad else 'on'}; "
          "total-variation distance between the posteriors of a clip "
          "and of its copy (mean / max), and top-class agreement")
    for title, transform, guard in (
            ("band-limited copy (via 11 025 Hz); off = no 5.5 kHz low-pass", band_limited_copy, "band"),
            ("copy 20 dB quieter; off = no level normalisation", gain_copy, "gain")):
        shipped = compare_copies(service, clips, transform)
        raw = compare_copies(service, clips, transform, switch_off=guard)
        print(f"\n{title}\n{'model':<36}{'as shipped':>26}{'off':>26}")
        for name in shipped:
            print(f"{name:<36}{fmt(shipped[name]):>26}{fmt(raw[name]):>26}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
