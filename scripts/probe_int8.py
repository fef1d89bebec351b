"""Would an int8 onnxruntime graph make the shipped models 2x faster? A probe, not a feature.

    OMP_NUM_THREADS=1 python scripts/probe_int8.py [--models glam glam_plus ...] [--clips 40]

For each model: its float32 ONNX export (the one ``predict --backend onnxruntime`` runs) is
quantised with onnxruntime's static quantisation (int8 weights per channel, uint8
activations, calibrated on the prepared features of ``--calib`` EMOVO clips), in both of
onnxruntime's formats (QDQ and QOperator). Then, on ``--clips`` other clips of every corpus
in ``--data``, the int8 graph's top class is compared with the float32 graph's (clip =
argmax of the mean of its segments' logits), and the prepared batch of the 3 s speech-like
clip that ``scripts/bench_onnx.py`` times is timed on both graphs (warm medians, alternating
blocks, ``--threads``). Prints one line per model and
format. Not a test: it answers whether int8 belongs in the export (it would have to keep the
export's parity promise: same top class on every clip).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.bench_onnx import clip_audio, timed  # noqa: E402

DEFAULT_MODELS = ["glam", "glam_plus", "acrnn_small", "squirtlenet_small", "dual_dslstm"]


def pick(files: list[Path], n: int, seed: int) -> list[Path]:
    """``n`` of ``files``, picked with a fixed seed."""
    rng = np.random.default_rng(seed)
    return [files[i] for i in rng.choice(len(files), min(n, len(files)), replace=False)]


def feeds_of(model, export, audio) -> dict[str, np.ndarray]:
    """The graph's inputs for a clip, as the int8 backend's calibration prepares them."""
    from ser_core.onnx_int8 import graph_feeds

    return graph_feeds(model, export, audio)


def median_ms(fn, repeats: int) -> float:
    return 1000 * statistics.median(timed(fn, repeats))


def probe(m, calib_paths: list[Path], test_paths: list[Path], tmp: Path, args) -> None:
    """Quantise one model in both formats and print its line per format."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ser_core.backends import cached_export
    from ser_core.onnx_export import _session

    export = cached_export(m.path)
    calib = [feeds_of(m, export, p) for p in calib_paths]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calib)

        def get_next(self):
            return next(self.items, None)

    fp32 = _session(export.path, args.threads)
    test = [feeds_of(m, export, p) for p in test_paths]
    ref = [fp32.run(None, f)[0].mean(axis=0).argmax() for f in test]
    three = feeds_of(m, export, clip_audio(None))
    pre = tmp / f"{m.name}_pre.onnx"  # onnxruntime's recommended pre-processing
    try:
        quant_pre_process(str(export.path), str(pre))
    except Exception:  # its symbolic shape inference fails on some dynamic time axes (glam)
        quant_pre_process(str(export.path), str(pre), skip_symbolic_shape=True)
    for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
        out = tmp / f"{m.name}_{fmt.name}.onnx"
        try:
            quantize_static(str(pre), str(out), Reader(), quant_format=fmt, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
        except Exception as e:  # e.g. the QOperator form of an LSTM's ConstantOfShape
            print(f"{m.name:20s} {fmt.name:9s} not quantisable: {str(e)[:90]}", flush=True)
            continue
        q = _session(out, args.threads)
        agree = np.mean([q.run(None, f)[0].mean(axis=0).argmax() == r for f, r in zip(test, ref)])
        t32, t8 = [], []
        for _ in range(2):  # alternating blocks
            t32.append(median_ms(lambda: fp32.run(None, three), args.repeats))
            t8.append(median_ms(lambda: q.run(None, three), args.repeats))
        a, b = statistics.mean(t32), statistics.mean(t8)
        print(f"{m.name:20s} {fmt.name:9s} {a:8.2f} {b:8.2f} {a / b:7.2f}x {100 * agree:14.1f}%",
              flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--data", default=os.environ.get("SER_DATA_ROOT", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--calib", type=int, default=24, help="EMOVO clips to calibrate on")
    ap.add_argument("--clips", type=int, default=40, help="clips per corpus to compare on")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import onnxruntime as ort

    from ser_core.data.records import iter_audio_files
    from ser_core.inference import InferenceService

    logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice, once per model
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    svc = InferenceService.from_paths([args.checkpoints], device="cpu", backend="torch", strict=True)
    calib_paths = pick(iter_audio_files(data / "emovo"), args.calib, seed=1)
    test_paths = [p for c in sorted(data.iterdir()) if c.is_dir()
                  for p in pick(iter_audio_files(c), args.clips, seed=2) if p not in calib_paths]
    print(f"onnxruntime {ort.__version__}; {len(calib_paths)} calibration clips, {len(test_paths)} "
          f"test clips; {args.threads} thread(s); load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':20s} {'format':9s} {'fp32 ms':>8s} {'int8 ms':>8s} {'speed-up':>8s} {'same top class':>15s}")
    with tempfile.TemporaryDirectory(prefix="int8_") as tmp:  # the quantised graphs are not kept
        for m in svc.models:
            if m.name in args.models:
                probe(m, calib_paths, test_paths, Path(tmp), args)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
