"""``python -m ser_core predict AUDIO [AUDIO ...] [--checkpoint DIR ...] [--json]``

Predicts the emotion of each audio file (folders are searched recursively for audio) with
every installed checkpoint (``$SER_CHECKPOINTS_DIR`` or ``checkpoints/``) or with the given
ones. Models load once for all inputs. A bad input among many gets ``{"path", "error"}`` and
the others still get predictions; when every input fails the command exits with status 2
and one ``error:`` line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64"}


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict the emotion of audio files with installed checkpoints",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files or folders of audio files")
    p.add_argument("--checkpoint", action="append", metavar="DIR",
                   help="a checkpoint directory or a folder of them (repeatable; default: every "
                        "checkpoint under $SER_CHECKPOINTS_DIR or checkpoints/)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per input")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--no-vad", action="store_true",
                   help="no voice activity detection (default: silence is trimmed and segments "
                        "that are mostly silence or padding do not vote)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime", "onnxruntime-int8"],
                   help="what runs the models (features are always torch): torch eager, "
                        "onnxruntime (exported to ONNX once, cached in .cache/onnx), "
                        "onnxruntime-int8 (int8 graphs where a checkpoint stores int8 "
                        "calibration judged worth it, else float32; same top class as float32 "
                        "on 95-97 %% of test clips, not all) or auto "
                        "(default, or $SER_BACKEND: onnxruntime where a model exports, else torch)")
    p.add_argument("--reference", nargs="+", metavar="FILE",
                   help="\"my voice\": 10-30 s of the same speaker's calm, neutral speech; models "
                        "that support it (acoustic_stats, and deep models whose checkpoint stores "
                        "speaker_reference.safetensors) classify relative to that voice")
    p.add_argument("--bench", type=int, metavar="N",
                   help="instead of predictions, time N warm runs per input (after one warm-up) of "
                        "decode + every model, and print median and 90th-percentile milliseconds")
    p.set_defaults(handler=run)


def expand_inputs(items: list[str]) -> list[tuple[str, str | None]]:
    """``(path, error)`` per input: folders become their audio files (sorted); a folder with
    none becomes one entry with an error."""
    out: list[tuple[str, str | None]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if files:
                out += [(str(f), None) for f in files]
            else:
                out.append((item, f"{item} is a folder with no audio files "
                                  f"({', '.join(sorted(AUDIO_SUFFIXES))})."))
        else:
            out.append((item, None))
    return out


def check_headers(inputs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Each input's header checked before any model loads (no torch, no decoding): a file
    that is too long or would decode to too many samples gets its error at once."""
    from ser_core.audio import inspect
    from ser_core.errors import SerError

    out = []
    for path, error in inputs:
        if error is None:
            try:
                inspect(path)
            except SerError as exc:
                error = str(exc)
        out.append((path, error))
    return out


def _model_rate(service) -> int | None:
    """The one sample rate of every loaded model (decode straight to it), else None."""
    rates = {m.sample_rate for m in service.models}
    return rates.pop() if len(rates) == 1 else None


def predict_inputs(service, inputs: list[tuple[str, str | None]], reference=None) -> list[dict]:
    """The CLI's JSON objects, one per input; user errors become ``{"path", "error"}``."""
    from ser_core.audio import load_audio
    from ser_core.errors import SerError

    results = []
    for path, error in inputs:
        if error:
            results.append({"path": path, "error": error})
            continue
        try:
            audio = load_audio(path, target_sr=_model_rate(service))
            results.append(service.predict(audio, reference=reference).as_dict(path))
        except SerError as exc:
            results.append({"path": path, "error": str(exc)})
    return results


def format_text(results: list[dict]) -> str:
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"{r['path']}: error: {r['error']}")
            continue
        lines.append(f"{r['path']}  ({r['duration_s']:.2f} s, {r['sample_rate']} Hz)")
        if "speech" in r:
            lines.append(f"  {'' if r['speech']['enough'] else 'WARNING: '}{r['speech']['sentence']}")
        width = max(len(m["name"]) for m in r["models"])
        for m in r["models"]:
            ranked = sorted(zip(m["labels"], m["probs"]), key=lambda t: -t[1])
            rest = "  ".join(f"{lab} {p:.2f}" for lab, p in ranked[1:4])
            lines.append(f"  {m['name']:<{width}}  {m['top']:<10} {max(m['probs']):.2f}   ({rest})")
        cons = r.get("consensus")
        if cons:
            note = (f"   not sure (below the threshold {r['threshold']:.2f})" if r.get("uncertain")
                    else "")
            lines.append(f"  {'consensus':<{width}}  {cons['top']:<10} {max(cons['probs']):.2f}{note}")
    return "\n".join(lines)


def bench_inputs(service, inputs: list[tuple[str, str | None]], repeats: int) -> list[dict]:
    """Warm latency per input: decode + predict with every model, ``repeats`` timed runs."""
    import time

    import numpy as np

    from ser_core.audio import load_audio
    from ser_core.errors import SerError

    rows = []
    for path, error in inputs:
        if error:
            continue
        try:
            service.predict(load_audio(path, target_sr=None))  # warm-up
        except SerError as exc:
            print(f"warning: not timed: {exc}", file=sys.stderr)
            continue
        totals, per_model = [], {m.name: [] for m in service.models}
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            pred = service.predict(load_audio(path, target_sr=None))
            totals.append(time.perf_counter() - t0)
            for m in pred.models:
                per_model[m.name].append(m.seconds)
        ms = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 2)  # noqa: E731
        rows.append({"path": path, "duration_s": round(pred.duration_s, 3), "runs": len(totals),
                     "total_ms": {"median": ms(totals, 50), "p90": ms(totals, 90)},
                     "models_ms": {n: ms(v, 50) for n, v in per_model.items()}})
    return rows


def format_bench(rows: list[dict], service) -> str:
    import torch

    from ser_core.backends import backend_name

    used = sorted({backend_name(m) for m in service.models})
    lines = [f"device {service.device}, {torch.get_num_threads()} CPU threads, backend {'+'.join(used)}"]
    for r in rows:
        lines.append(f"{r['path']} ({r['duration_s']} s), {r['runs']} warm runs: decode + all "
                     f"{len(r['models_ms'])} models median {r['total_ms']['median']} ms, "
                     f"p90 {r['total_ms']['p90']} ms")
        for name, v in r["models_ms"].items():
            lines.append(f"  {name:<28} {v:>9.2f} ms")
    return "\n".join(lines)


def run(args) -> int:
    from ser_core.errors import CheckpointError, SerError

    inputs = check_headers(expand_inputs(args.audio))
    if all(error for _, error in inputs):  # refused before torch or any model loads
        _raise_all_failed([{"path": p, "error": e} for p, e in inputs])
    from ser_core.backends import default_backend
    from ser_core.inference import InferenceService, checkpoints_dir

    if args.threads:
        import torch

        torch.set_num_threads(int(args.threads))
    service = InferenceService.from_paths(args.checkpoint, device=args.device,
                                          backend=args.backend or default_backend(),
                                          vad=False if args.no_vad else None)
    if not len(service):
        where = ", ".join(args.checkpoint) if args.checkpoint else str(checkpoints_dir())
        why = "".join(f" {p}: {e}" for p, e in list(service.failed.items())[:1])
        raise CheckpointError(
            f"no usable checkpoint in {where}" + (f" (could not load{why})" if why else "")
            + ". Train one (python -m ser_core train ... or the app's Train page) or pass "
              "--checkpoint DIR.")
    for path, why in service.failed.items():
        print(f"warning: skipped checkpoint {path}: {why}", file=sys.stderr)
    if args.bench:
        rows = bench_inputs(service, inputs, args.bench)
        if not rows:
            raise SerError("no usable input to time.")
        print(json.dumps(rows, indent=2) if args.json else format_bench(rows, service))
        return 0
    reference = None
    if args.reference:
        from ser_core.audio import load_audio
        from ser_core.reference import SpeakerReference

        reference = SpeakerReference.from_audio([load_audio(f, target_sr=None) for f in args.reference])
    results = predict_inputs(service, inputs, reference)
    if all("error" in r for r in results):
        _raise_all_failed(results)
    try:  # strict JSON: a NaN or infinity would make output other programs cannot parse
        text = json.dumps(results, indent=2, allow_nan=False) if args.json else format_text(results)
    except ValueError:
        raise SerError("a model produced a non-finite probability (NaN or infinity); its "
                       "checkpoint is broken: retrain it or remove it.") from None
    print(text)
    return 0


def _raise_all_failed(results: list[dict]) -> None:
    from ser_core.errors import SerError

    errors = [r for r in results if "error" in r]
    if len(results) == 1:
        raise SerError(errors[0]["error"])
    raise SerError(f"none of the {len(results)} inputs could be used; the first: "
                   f"{errors[0]['error']}")
