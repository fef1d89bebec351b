"""``python -m ser_core features AUDIO --kind KIND [--out FILE.npy] [--json] [options]``

Computes one feature kind of ``ser_core.features.pipeline`` for an audio file (decoded,
validated, mixed down and resampled by the audio layer) and saves it as a NumPy array.
Kinds for the seed 000 chain: preemphasis, spectrogram, logmel, delta, delta2, mfcc, chroma;
every registered kind works (``--list-kinds``). Kinds with several inputs (mel_pair,
dual_level) need ``--out FILE.npz``.

Shapes: waveform kinds ``(1, time)``, spectral kinds ``(channels, freq, frames)``.
Time options are in seconds (``--hop 0.010`` is 10 ms); ``--n-fft`` is in samples.
Bad audio or impossible parameters print one ``error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

CHAIN_KINDS = ("preemphasis", "spectrogram", "logmel", "delta", "delta2", "mfcc", "chroma")


def register(sub) -> None:
    p = sub.add_parser("features", help="compute a feature (log-mel, MFCC, ...) of an audio file",
                       description=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="?", metavar="AUDIO", help="audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("--kind", default="logmel", metavar="KIND",
                   help=f"feature kind (default logmel; chain kinds: {', '.join(CHAIN_KINDS)})")
    p.add_argument("--out", metavar="FILE.npy", help="write the array here (.npy, or .npz)")
    p.add_argument("--json", action="store_true",
                   help="print shape, sample rate and every parameter used as JSON")
    p.add_argument("--sample-rate", type=int, default=16000, metavar="HZ",
                   help="resample to this rate first (default 16000; 0 keeps the file's rate)")
    p.add_argument("--n-fft", type=int, metavar="N", help="DFT size in samples")
    p.add_argument("--hop", type=float, metavar="SECONDS", help="frame shift in seconds (0.010)")
    p.add_argument("--win", type=float, metavar="SECONDS", help="frame length in seconds (0.025)")
    p.add_argument("--n-mels", type=int, metavar="N", help="number of mel filters")
    p.add_argument("--n-mfcc", type=int, metavar="N", help="number of MFCCs")
    p.add_argument("--preemphasis", type=float, metavar="A",
                   help="pre-emphasis coefficient (0 disables)")
    p.add_argument("--window", metavar="NAME", help="hamming, hann, blackman, bartlett, rectangular")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other config field (repeatable), e.g. --param delta=regression")
    p.add_argument("--list-kinds", action="store_true", help="list the feature kinds and exit")
    p.set_defaults(handler=run)


def collect_params(args) -> dict:
    """Config overrides from the command line options."""
    from ser_core.errors import ConfigError
    from ser_core.options import key_values, parse_value

    params = {}
    for opt, field in (("n_fft", "n_fft"), ("hop", "hop_s"), ("win", "win_length_s"),
                       ("n_mels", "n_mels"), ("n_mfcc", "n_mfcc"),
                       ("preemphasis", "preemphasis"), ("window", "window")):
        value = getattr(args, opt)
        if value is not None:
            params[field] = value
    for name in ("hop_s", "win_length_s"):
        if name in params and params[name] >= 1.0:
            flag = "--hop" if name == "hop_s" else "--win"
            raise ConfigError(f"{flag} is in seconds (0.010 for 10 ms), not samples: "
                              f"{params[name]:g} s is too long.")
    for name, value in key_values(args.param, "--param"):
        params[name.replace("-", "_")] = parse_value(value)
    return params


def run(args) -> int:
    import numpy as np

    from ser_core.errors import ConfigError

    if args.list_kinds:
        from ser_core.features.pipeline import describe_kinds

        rows = describe_kinds()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['name']:15s} seed {r['seed']:11s} {r['output']:28s} {r['description']}")
        return 0
    if not args.audio:
        raise ConfigError("give an AUDIO file (or --list-kinds).")

    from ser_core.audio import load_audio
    from ser_core.features.pipeline import extract, feature_config

    params = collect_params(args)
    cfg = feature_config(args.kind, **params)  # validates before decoding anything
    audio = load_audio(args.audio, target_sr=args.sample_rate or None)
    out = extract(args.kind, audio.waveform, audio.sample_rate, config=cfg)

    if isinstance(out, dict):
        arrays = {k: v.detach().cpu().numpy() for k, v in out.items()}
        shape = {k: list(v.shape) for k, v in arrays.items()}
    else:
        arrays = out.detach().cpu().numpy()
        shape = list(arrays.shape)
    if args.out:
        if isinstance(arrays, dict):
            if not args.out.endswith(".npz"):
                raise ConfigError(f"kind {args.kind!r} gives several arrays "
                                  f"({', '.join(arrays)}); use --out FILE.npz.")
            np.savez(args.out, **arrays)
        else:
            np.save(args.out, arrays)
    import dataclasses

    summary = {"audio": args.audio, "kind": args.kind, "sample_rate": audio.sample_rate,
               "original_sample_rate": audio.original_sample_rate,
               "duration_s": round(audio.duration_s, 4), "shape": shape, "dtype": "float32",
               "out": args.out, "params": dataclasses.asdict(cfg)}
    if hasattr(cfg, "win_samples"):
        sr = audio.sample_rate
        summary["samples"] = {"win_length": cfg.win_samples(sr), "hop_length": cfg.hop_samples(sr),
                              "n_fft": cfg.fft_size(sr)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        where = f" -> {args.out}" if args.out else ""
        print(f"{args.kind} {shape} at {audio.sample_rate} Hz{where}", file=sys.stdout)
    return 0
