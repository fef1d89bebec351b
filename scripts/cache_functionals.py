"""Fill the feature cache with the acoustic functionals of the four corpora (run once, nice'd).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/cache_functionals.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORPORA = ("ravdess", "emodb", "emovo", "cremad")


def main() -> int:
    import torch

    from ser_core.data import load_labeled
    from ser_core.training.functional_data import functionals_of

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--corpora", default=",".join(CORPORA))
    ap.add_argument("--labels", default="ekman7")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = args.corpora.split(",")
    for name in names:
        data = load_labeled([name], [str(Path(args.data) / name)], args.labels, check_audio=False)
        t0 = time.time()
        table = functionals_of(data.utterances, data.classes,
                               progress=lambda i, n: i % 500 == 0 and print(f"{name} {i}/{n}", flush=True))
        print(f"{name}: {table.X.shape} in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
