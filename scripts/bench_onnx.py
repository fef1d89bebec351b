"""Torch eager vs onnxruntime per model and for all models, and our log-mel vs librosa, in one run.

    python scripts/bench_onnx.py [--checkpoints DIR] [--clip WAV] [--repeats 30] [--threads 1 2]

For each thread count (torch's intra-op threads = onnxruntime's ``intra_op_num_threads``):

* per model, the model alone on its prepared batch of a 3 s clip (the segments' features,
  normalised: exactly what :class:`~ser_core.inference.InferenceService` hands a backend),
  torch eager (channels-last, as the service runs it) vs the ONNX export in onnxruntime vs
  the ``onnxruntime-int8`` backend (int8 graphs where a checkpoint's stored calibration allows
  them, ``python -m ser_core export int8``);
* all models in a row, model alone, and the whole service call (segmenting + features +
  every model + pooling, what ``predict`` and the app time) on each backend;
* log-mel + deltas + MFCC of one 3 s clip and of a batch of 3 s clips, ours (torch) vs
  librosa with equal parameters (:mod:`ser_core.features.benchmark`), with the agreement.

Warm times: one untimed call first, then ``--repeats`` timed calls; the backends alternate in
blocks (never call by call, see ``ser_core.features.benchmark.run``). Prints median and
90th percentile in ms and the speed-up (torch / onnxruntime, librosa / ours) and the load
average, because on a shared machine the absolute numbers move with it. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats(xs: list[float]) -> tuple[float, float]:
    return 1000 * statistics.median(xs), 1000 * float(np.percentile(xs, 90))


def clip_audio(path: str | None):
    from ser_core.audio import load_audio
    from ser_core.features.benchmark import speech_like_audio

    return load_audio(path, target_sr=16000) if path else speech_like_audio(3.0)


def bench_models(svc, audio, threads: int, repeats: int) -> list[str]:
    """Per model and for all: torch eager, the float32 onnxruntime graph and the
    ``onnxruntime-int8`` backend (the int8 graph where the checkpoint's calibration allows it,
    marked ``*``; else the float32 graph again), each speed-up against torch."""
    from ser_core.backends import INT8, OnnxRuntimeBackend, cached_export, make_backend
    from ser_core.features.segments import segment_waveform

    torch.set_num_threads(threads)
    ort = {m.name: OnnxRuntimeBackend(cached_export(m.path), threads) for m in svc.models}
    int8 = {m.name: make_backend(m, INT8, threads) for m in svc.models}
    lines = [f"{'model (alone, prepared batch)':34s} {'torch med/p90 ms':>18s} "
             f"{'onnxrt med/p90 ms':>18s} {'speed-up':>8s} {'int8 med/p90 ms':>19s} {'speed-up':>8s}"]
    batches = {}
    for m in svc.models:
        segs = segment_waveform(audio.waveform, m.sample_rate, m.spec.segment_s, m.spec.hop_s)
        with torch.inference_mode():
            batches[m.name] = m.prepare(segs)

    def row(name: str, t, o, q, mark: str = " ") -> str:
        (tm, tp), (om, op), (qm, qp) = stats(t), stats(o), stats(q)
        return (f"{name:34s} {tm:8.2f} / {tp:7.2f} {om:8.2f} / {op:7.2f} {tm / om:7.2f}x "
                f"{qm:8.2f} / {qp:7.2f}{mark} {tm / qm:7.2f}x")

    for m in svc.models:
        x = batches[m.name]
        with torch.inference_mode():
            t = timed(lambda: m.model(x), repeats)
        o = timed(lambda: ort[m.name](x), repeats)
        q = timed(lambda: int8[m.name](x), repeats)
        lines.append(row(m.name, t, o, q, "*" if int8[m.name].name == INT8 else " "))

    def all_torch():
        with torch.inference_mode():
            for m in svc.models:
                m.model(batches[m.name])

    def all_of(backends):
        def run():
            for m in svc.models:
                backends[m.name](batches[m.name])
        return run

    t, o, q = timed(all_torch, repeats), timed(all_of(ort), repeats), timed(all_of(int8), repeats)
    lines.append(row(f"all {len(svc)} models, alone", t, o, q))

    def service(backends):
        for m in svc.models:
            m.backend = None if backends is None else backends[m.name]
        return timed(lambda: svc.predict(audio), repeats)

    t, o, q = service(None), service(ort), service(int8)
    service(None)
    lines.append(row("all, features + models (predict)", t, o, q))
    lines.append("(* = the int8 graph; the others run their float32 graph under onnxruntime-int8)")
    return lines


def bench_features(threads: int, repeats: int, batch: int) -> list[str]:
    from ser_core.features import benchmark as B

    torch.set_num_threads(threads)
    limits = None
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(threads)
    except ImportError:
        pass
    try:
        rows, checks = B.run(("cpu",), batch=batch, durations=(3.0,), repeats=repeats, long_batch=0)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return ["log-mel + deltas + MFCC, ours vs librosa:"] + B.format_table(rows, checks).splitlines()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--clip", help="a WAV (default: a 3 s speech-like signal)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=32, help="clips in the feature batch")
    ap.add_argument("--skip-features", action="store_true")
    args = ap.parse_args()

    import onnxruntime

    from ser_core.inference import InferenceService

    svc = InferenceService.from_paths([args.checkpoints], device="cpu", backend="torch", strict=True)
    audio = clip_audio(args.clip)
    print(f"{len(svc)} models from {args.checkpoints}; clip {audio.name} ({audio.duration_s:.2f} s); "
          f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs, "
          f"{args.repeats} warm runs")
    for threads in args.threads:
        print(f"\n== {threads} thread(s); load average {os.getloadavg()[0]:.2f}")
        print("\n".join(bench_models(svc, audio, threads, args.repeats)))
        if not args.skip_features:
            print("\n".join(bench_features(threads, args.repeats, args.batch)))
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
