"""``python -m ser_core bench features [--device cpu|cuda|all] [--batch N] [--repeats N] [--json]``

Times log-mel + delta + delta-delta + MFCC of this package against librosa with equal
parameters (16 kHz, n_fft 512, 25 ms Hamming / 10 ms, 40 HTK mels, regression deltas over 5
frames, 40 MFCCs): median time for one 3 s clip, one 60 s clip, a batch of 3 s clips and a
batch of 60 s clips, on the CPU and on CUDA when present, with the speed-up over librosa and
a check that both give the same numbers within tolerance. Not a test: a measurement.
"""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (features: ours vs librosa)",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", choices=["features"], help="what to benchmark")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, all or auto (default: cpu, plus cuda when available)")
    p.add_argument("--batch", type=int, default=32, help="clips in the 3 s batch (default 32)")
    p.add_argument("--long-batch", type=int, default=8, help="clips in the 60 s batch (default 8; 0 skips)")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats per case (default 7)")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch and numpy's BLAS (default: each library's choice)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    import torch

    from ser_core.errors import ConfigError
    from ser_core.features import benchmark as B

    limits = None
    if args.threads:
        torch.set_num_threads(args.threads)
        try:  # numpy's BLAS (librosa's mel product) gets the same number of threads
            from threadpoolctl import threadpool_limits

            limits = threadpool_limits(args.threads)
        except ImportError:
            pass
    has_cuda = torch.cuda.is_available()
    if args.device in ("auto", "all"):
        devices = ["cpu"] + (["cuda"] if has_cuda else [])
    elif args.device == "cuda" and not has_cuda:
        raise ConfigError("--device cuda: no CUDA device is available here.")
    elif args.device in ("cpu", "cuda"):
        devices = [args.device]
    else:
        raise ConfigError(f"--device must be cpu, cuda, all or auto, not {args.device!r}.")
    if args.batch < 1 or args.repeats < 1:
        raise ConfigError("--batch and --repeats must be >= 1.")
    try:
        rows, checks = B.run(devices, batch=args.batch, repeats=args.repeats,
                             long_batch=args.long_batch)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    if args.json:
        print(json.dumps({"environment": B.environment(),
                          "rows": [dict(r.__dict__, ratio=r.ratio) for r in rows],
                          "agreement": checks, "tolerances": B.TOLERANCES}, indent=2))
    else:
        print("log-mel + delta + delta-delta + MFCC, median wall time, " + B.environment())
        print(B.format_table(rows, checks))
    failed = [d for d, diffs in checks.items() if any(v > B.TOLERANCES[k] for k, v in diffs.items())]
    return 1 if failed else 0
