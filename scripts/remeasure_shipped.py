"""Re-measure the shipped checkpoints on their test speakers with today's input path.

    OMP_NUM_THREADS=1 python scripts/remeasure_shipped.py --why "..." [--checkpoints checkpoints] [NAME ...]

For when something every model's input goes through changes without the weights changing (the
voice activity detector's cuts, 2026-12-03): each one-fold checkpoint (protocol ``final``) is
evaluated again on its fold's test speakers, and its config.json's test metrics, per-corpus
breakdown, confusion matrix, prediction spread and precision check are rewritten
(:func:`ser_core.training.export.remeasure_test`); the float32 run it was shipped from (its
``--out`` in ``shipped.command``) gives the precision check when it is still on this machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def source_run(meta) -> Path | None:
    """The float32 checkpoint a shipped one came from, if this machine still has it."""
    command = (meta.extra.get("shipped") or {}).get("command") or []
    if "--out" not in command:
        return None
    src = REPO / command[command.index("--out") + 1] / "checkpoint"
    return src if (src / "config.json").is_file() else None


def main() -> int:
    import torch

    from ser_core.checkpoint import find_checkpoints, read_meta
    from ser_core.training.export import remeasure_test

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="checkpoint names (default: every one-fold deep checkpoint)")
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--why", required=True, help="what changed (stored in config.json)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for d in find_checkpoints(args.checkpoints):
        meta = read_meta(d)
        if (args.names and d.name not in args.names) or meta.model == "acoustic_stats" \
                or len(meta.metrics.get("folds") or []) != 1:
            continue
        rec = remeasure_test(d, args.why, source_run(meta))
        print(f"{d.name:<26} test UA {100 * rec['test_ua_before']:.1f} -> {100 * rec['test_ua_after']:.1f} % "
              f"({rec['utterances']} utterances)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
