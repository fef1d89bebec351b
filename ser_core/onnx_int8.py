"""int8 graphs for onnxruntime: static quantisation calibrated once, stored as ranges.

The float32 export (:mod:`ser_core.onnx_export`) keeps the export's promise: the same top
class as torch on every clip, probabilities within 1e-3. It cannot be 2x faster than torch
for the convolutional models (README, "Speed": their time is convolutions that both backends
run near what one core does). An int8 graph can, on a CPU with 8-bit dot products (AVX-512
VNNI here): onnxruntime's static quantisation, QDQ format, int8 weights per output channel,
uint8 activations with MinMax ranges. It gives another top class on a few clips in a hundred,
so it is its own, opt-in backend (``onnxruntime-int8``), never ``auto``, with its measured
agreement stored and shown beside it.

Static quantisation needs activation ranges from real speech, which a user's machine may not
have (the corpora are not part of the project). So the ranges are measured once, by
``python -m ser_core export int8 CHECKPOINT... --data ROOT`` on clips of the corpora, and stored
in the checkpoint folder as ``int8_calibration.json`` (a few kB: onnxruntime's own calibration
cache format, plus what was measured); the int8 graph itself is made from them on first use and
cached beside the float32 exports. The same command measures, on other clips, how often the
int8 graph's top class equals the float32 graph's, and both graphs' warm time on a 3 s clip;
a model whose int8 graph is not clearly faster (``MIN_SPEEDUP``) or agrees too rarely
(``MIN_AGREEMENT``) is marked ``"use": false`` and stays on the float32 graph under the int8
backend (the LSTM and attention models: their time is not in convolutions, and their int8
graphs were slower here).

Written by hand around onnxruntime's quantiser (``quant_pre_process`` + ``quantize_static``
with ``calibration_cache_path``) because no library turns a checkpoint into stored ranges and
back; the quantisation itself is onnxruntime's.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ser_core.errors import SerError

CALIBRATION_FILE = "int8_calibration.json"
FORMAT = "ser-int8-calibration"
FORMAT_VERSION = 1
MIN_SPEEDUP = 1.25     # int8 warm time must beat float32 by this factor to be used
MIN_AGREEMENT = 0.95   # and give the float32 graph's top class on this share of test clips
QUANTISATION = {"format": "QDQ", "weights": "int8, per output channel", "activations": "uint8",
                "calibrate_method": "MinMax", "preprocessing": "onnxruntime quant_pre_process"}


class Int8Error(SerError):
    """No int8 graph for a checkpoint (not calibrated, calibrated for other weights, or the
    stored ranges do not fit the exporter's graph)."""


# -- inputs -----------------------------------------------------------------------------------

def graph_feeds(entry, export, audio) -> dict[str, np.ndarray]:
    """A clip's graph inputs: the model's segments and features as the service prepares them
    (without voice activity trimming: the float32 and int8 graphs see the same input, which is
    all that is compared or calibrated)."""
    from ser_core.audio import load_audio, resample
    from ser_core.backends import _numpy
    from ser_core.checkpoint.inputs import segment_for_model

    if isinstance(audio, (str, Path)):
        audio = load_audio(audio, target_sr=entry.sample_rate)
    wave = resample(audio.waveform, audio.sample_rate, entry.sample_rate)
    with torch.inference_mode():
        x = entry.prepare(segment_for_model(entry.meta, wave))
    items = x if isinstance(x, dict) else {export.input_names[0]: x}
    return {n: _numpy(items[n]) for n in export.input_names}


def _top(session, feeds: dict[str, np.ndarray]) -> int:
    """A clip's class: argmax of the mean of its segments' logits."""
    return int(session.run(None, feeds)[0].mean(axis=0).argmax())


def warm_ms(fn: Callable[[], Any], repeats: int = 15, blocks: int = 2) -> float:
    """Warm median time of ``fn`` in ms (one call to warm up, then ``blocks`` medians averaged)."""
    fn()
    meds = []
    for _ in range(blocks):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        meds.append(statistics.median(times))
    return 1000 * statistics.mean(meds)


# -- quantisation -----------------------------------------------------------------------------

def _preprocess(float_path: Path, out: Path) -> None:
    """onnxruntime's recommended pre-processing (graph optimisation and ONNX shape inference).
    Without its symbolic shape inference, which fails on several of the exported graphs
    (serct, squirtlenet, parallel_cnn_transformer) and then leaves a debugging copy of the
    model in the working directory."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(float_path), str(out), skip_symbolic_shape=True)


def _quantise(pre: Path, out: Path, cache: Path, reader=None) -> None:
    """``quantize_static`` with the project's settings; ranges from ``reader`` (written to
    ``cache``) or, without one, read from ``cache``.

    Plain MinMax (each range spans every calibration clip's extremes). Measured on the
    shipped models (160 test clips, 16 calibration clips per corpus): a moving average of the
    clips' extremes (onnxruntime's ``CalibMovingAverage``), which clips rare outliers, kept
    ``glam``'s float32 answer more often (97.5 against 93.8-96.9 % over three calibration
    sets) but ``acrnn_small``'s and ``glam_plus``'s less (86.2 and 92.5 %, against 96.9-98.1 %
    in the probe of README "Speed"), so it is not used. Histogram methods (Percentile,
    Entropy) fail on clips with different numbers of segments."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    calibration_cache_path=str(cache))


def _graph_tensors(path: Path) -> set[str]:
    import onnx

    g = onnx.load(str(path)).graph
    return {i.name for i in g.input} | {o for n in g.node for o in n.output}


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    from ser_core.onnx_export import OPSET

    return {"torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "opset": str(OPSET)}


def calibrate_checkpoint(directory: str | Path, calibration: Sequence, test: Sequence,
                         probe=None, threads: int = 1, repeats: int = 15,
                         describe: dict | None = None) -> dict:
    """Measure activation ranges on ``calibration`` clips (paths or Audio), then the int8
    graph's agreement with the float32 graph on ``test`` clips and both graphs' warm time on
    ``probe`` (default: the 3 s speech-like clip of the benchmarks); write
    ``int8_calibration.json`` into the checkpoint folder (atomically) and return it."""
    from onnxruntime.quantization import CalibrationDataReader

    from ser_core.backends import cached_export
    from ser_core.data.atomic import atomic_write_bytes
    from ser_core.inference import load_installed
    from ser_core.onnx_export import _session, checkpoint_hash

    directory = Path(directory)
    if not calibration or not test:
        raise Int8Error("int8 calibration needs calibration clips and other clips to test on.")
    entry = load_installed(directory, torch.device("cpu"))
    export = cached_export(directory)
    calib = [graph_feeds(entry, export, c) for c in calibration]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calib)

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory(prefix="int8_") as tmp:
        pre, out, cache = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx", Path(tmp) / "ranges.json"
        _preprocess(export.path, pre)
        _quantise(pre, out, cache, Reader())
        ranges = json.loads(cache.read_text())
        fp32, int8 = _session(export.path, threads), _session(out, threads)
        feeds = [graph_feeds(entry, export, c) for c in test]
        same = [_top(fp32, f) == _top(int8, f) for f in feeds]
        if probe is None:
            from ser_core.features.benchmark import speech_like_audio

            probe = speech_like_audio(3.0)
        three = graph_feeds(entry, export, probe)
        t32 = warm_ms(lambda: fp32.run(None, three), repeats)
        t8 = warm_ms(lambda: int8.run(None, three), repeats)
    agreement = float(np.mean(same))
    speedup = t32 / t8
    use = speedup >= MIN_SPEEDUP and agreement >= MIN_AGREEMENT
    why = ("faster and agreeing" if use else
           f"not used: {'int8 is not faster' if speedup < MIN_SPEEDUP else 'agrees too rarely'} "
           f"(needs {MIN_SPEEDUP}x and {100 * MIN_AGREEMENT:.0f} %)")
    body = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": entry.arch,
            "checkpoint_sha256": checkpoint_hash(directory), "versions": _versions(),
            "quantisation": QUANTISATION,
            "calibration": {"clips": len(calib), **(describe or {}).get("calibration", {})},
            "measured": {"test_clips": len(feeds), "same_top_class": agreement,
                         "float32_ms": t32, "int8_ms": t8, "speedup": speedup,
                         "threads": threads, "clip": getattr(probe, "name", "probe"),
                         **(describe or {}).get("measured", {})},
            "use": use, "why": why, "ranges": ranges}
    atomic_write_bytes(directory / CALIBRATION_FILE, json.dumps(body, indent=1).encode())
    return body


def read_calibration(directory: str | Path) -> dict | None:
    """The checkpoint's ``int8_calibration.json``, or ``None`` when it has none."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Int8Error(f"{path} is unreadable ({exc}).") from None
    if body.get("format") != FORMAT or "ranges" not in body:
        raise Int8Error(f"{path} is not an int8 calibration of this lab.")
    return body


def not_used_because(directory: str | Path) -> str:
    """Why a calibrated checkpoint runs its float32 graph under the int8 backend, in numbers."""
    m = read_calibration(directory)["measured"]
    return f"int8 was {m['speedup']:.2f}x as fast and kept {100 * m['same_top_class']:.1f} % of the answers"


def rule() -> str:
    """When a calibrated model runs in int8, in words."""
    return f"int8 is used where it is at least {MIN_SPEEDUP}x as fast and keeps {100 * MIN_AGREEMENT:.0f} % of the answers"


def int8_export(directory: str | Path, cache: str | Path | None = None):
    """The int8 graph of a checkpoint (an :class:`~ser_core.onnx_export.OnnxExport`), made from
    its stored ranges on first use and cached; ``None`` when its calibration says int8 is not
    worth it. Raises :class:`Int8Error` when there is no usable calibration."""
    from ser_core.backends import _EXPORT_LOCK, _cache_folder, cached_export
    from ser_core.onnx_export import META_FILE, MODEL_FILE, checkpoint_hash, read_export, write_folder

    directory = Path(directory)
    body = read_calibration(directory)
    if body is None:
        raise Int8Error(f"{directory.name} has no int8 calibration (make one with "
                        f"python -m ser_core export int8 {directory} --data DATA_ROOT).")
    if body["checkpoint_sha256"] != checkpoint_hash(directory):
        raise Int8Error(f"{directory.name}'s int8 calibration was measured for other weights; "
                        f"measure it again (python -m ser_core export int8 {directory}).")
    if not body.get("use"):
        return None
    float_export = cached_export(directory, cache)
    key = hashlib.sha256(json.dumps(body["ranges"], sort_keys=True).encode()).hexdigest()[:12]
    base = _cache_folder(directory, cache)
    folder = base.with_name(f"{base.name}-int8-{key}")
    with _EXPORT_LOCK:
        try:
            return read_export(folder)
        except (OSError, ValueError, KeyError, SerError):
            pass

        def write(tmp: Path) -> None:
            pre, ranges = tmp / "pre.onnx", tmp / "ranges.json"
            _preprocess(float_export.path, pre)
            missing = set(body["ranges"]["data"]) - _graph_tensors(pre)
            if missing:
                raise Int8Error(f"{directory.name}'s int8 ranges do not fit this exporter's graph "
                                f"({len(missing)} tensors unknown, e.g. {sorted(missing)[0]}); "
                                f"measure them again with python -m ser_core export int8.")
            ranges.write_text(json.dumps(body["ranges"]))
            _quantise(pre, tmp / MODEL_FILE, ranges)
            meta = {**float_export.meta, "int8": {k: body[k] for k in
                                                  ("quantisation", "calibration", "measured")}}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            pre.unlink()
            ranges.unlink()

        write_folder(folder, write)
        return read_export(folder)
