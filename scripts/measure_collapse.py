"""Why unseen speech collapses into one class: the evidence, per corpus, and the before/after.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/measure_collapse.py --clips 120
    python scripts/measure_collapse.py --predictions runs/collapse   # + before/after table

Part 1 (signal and features; ``--clips`` per corpus, a fixed subset spread over speakers and
classes): after ``load_audio`` (16 kHz mono), per corpus, the median and 90th percentile of

- leading / trailing silence and the speech fraction (Silero VAD, :mod:`ser_core.vad`),
- the level of the speech (RMS, dBFS) and the noise floor (RMS of the non-speech, dBFS),
- the share of each model's segments that is zero padding, and the share of segments that
  are more than half padding, or more than half silence + padding (what used to vote),
- acrnn_small's log-mel bands (the one shipped model whose checkpoint stores per-band
  normalisation statistics): each corpus's mean per band, in units of the stored standard
  deviation from the stored mean (0 = like the training data), grouped in 5 band ranges.

Part 2 (``--predictions DIR``): the JSON files that ``python -m ser_core loco ... --out``
wrote there (one per inference setting), as a before/after table: consensus UA with its
speaker-bootstrap CI, macro-F1, top-class share and most predicted class. ``--ablate N``
first computes them for the settings in ``SETTINGS`` on a fixed N-clip CREMA-D subset (the
subset ``loco --max-utterances N`` uses), two forward passes per clip and model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core import vad  # noqa: E402
from ser_core.audio import load_audio  # noqa: E402
from ser_core.data import load_labeled  # noqa: E402
from ser_core.features.segments import segment_fill  # noqa: E402
from ser_core.inference import checkpoints_dir, load_installed  # noqa: E402
from ser_core.checkpoint import featurize  # noqa: E402
from ser_core.training.protocols import subsample  # noqa: E402

SR = 16000
CORPORA = ("ravdess", "emodb", "emovo", "cremad")
SEGMENTS = {"3 s (acrnn, pct, serct)": (3.0, None), "2 s / 0.4 s (glam)": (2.0, 0.4)}
BAND_GROUPS = [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]


def db(x: float) -> float:
    return float(20 * np.log10(max(x, 1e-8)))


def clip_stats(wave: torch.Tensor) -> dict:
    speech = vad.analyse(wave, SR)
    mask = vad.speech_mask(wave.shape[0], SR, speech.intervals).bool()
    span = speech.span or (speech.duration_s, speech.duration_s)
    row = {"duration": speech.duration_s, "lead": span[0], "trail": speech.duration_s - span[1],
           "speech_fraction": speech.fraction,
           "speech_dbfs": db(wave[mask].pow(2).mean().sqrt().item()) if mask.any() else np.nan,
           "noise_dbfs": db(wave[~mask].pow(2).mean().sqrt().item()) if (~mask).any() else np.nan}
    ones = torch.ones(wave.shape[0])
    for name, (seg, hop) in SEGMENTS.items():
        real = segment_fill(ones, SR, seg, hop)
        spoken = segment_fill(mask.float(), SR, seg, hop)
        row[f"pad {name}"] = float(1 - real.mean())
        row[f">50% pad {name}"] = float((real < 0.5).float().mean())
        row[f">50% silence+pad {name}"] = float((spoken < 0.5).float().mean())
    return row


def band_offsets(entry, waves: list[torch.Tensor]) -> np.ndarray:
    """Per-band mean of the static log-mel channel over a corpus, in stored-std units."""
    meta = entry.meta
    norm = (meta["normalization"] if isinstance(meta, dict) else meta.normalization)["inputs"]["x"]
    mean, std = np.asarray(norm["mean"])[0], np.asarray(norm["std"])[0]
    total, frames = None, 0
    for w in waves:
        segs = vad_free_segments(w, entry)
        x = featurize(entry.meta.feature, segs, entry.meta.sample_rate)[:, 0]  # (segments, bands, frames)
        s = x.sum(dim=(0, 2)).double().numpy()
        total = s if total is None else total + s
        frames += x.shape[0] * x.shape[2]
    return (total / frames - mean) / std


def vad_free_segments(w: torch.Tensor, entry) -> torch.Tensor:
    from ser_core.features.segments import segment_waveform

    return segment_waveform(w, SR, entry.spec.segment_s, entry.spec.hop_s)


def part1(root: Path, clips: int) -> None:
    acrnn = load_installed(checkpoints_dir() / "acrnn_small", torch.device("cpu"))
    print(f"{clips} clips per corpus (fixed subset over speakers and classes), 16 kHz after "
          f"load_audio; median [90th percentile]\n")
    table, bands = {}, {}
    for corpus in CORPORA:
        data = load_labeled(corpus, [root / corpus], "ekman7")
        utts = subsample(list(data.utterances), None, clips, 0)
        waves = [load_audio(u.path).waveform for u in utts]
        rows = [clip_stats(w) for w in waves]
        table[corpus] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        bands[corpus] = band_offsets(acrnn, waves)
    keys = list(next(iter(table.values())))
    print(f"{'':<34}" + "".join(f"{c:>18}" for c in CORPORA))
    for k in keys:
        cells = []
        for c in CORPORA:
            v = table[c][k][np.isfinite(table[c][k])]
            pct = k.startswith(("pad", ">50%", "speech_fraction"))
            f = (lambda x: f"{100 * x:.0f} %") if pct else (lambda x: f"{x:.2f}")
            cells.append(f"{f(np.median(v))} [{f(np.percentile(v, 90))}]" if not k.startswith(">50%")
                         else f"{f(v.mean())}")
        print(f"{k:<34}" + "".join(f"{x:>18}" for x in cells))
    print("\n(>50% rows: share of all segments, not a median)")
    print("\nacrnn_small log-mel (static channel, 40 bands, 0-8 kHz at 16 kHz, 5.5 kHz low-pass "
          "before): corpus mean minus the checkpoint's stored mean, in stored standard deviations")
    print(f"{'bands':<12}" + "".join(f"{c:>10}" for c in CORPORA))
    for a, b in BAND_GROUPS:
        print(f"{f'{a}-{b - 1}':<12}" + "".join(f"{bands[c][a:b].mean():>10.2f}" for c in CORPORA))


def part2(directory: Path) -> None:
    rows = []
    for p in sorted(directory.glob("*.json")):
        r = json.loads(p.read_text())
        rows.append((p.stem, r))
    if not rows:
        print(f"no loco results in {directory}")
        return
    r0 = rows[0][1]
    print(f"\nconsensus of {len(r0['models'])} shipped models on left-out {r0['corpus']}, "
          f"{r0['utterances']} clips, {r0['speakers']} speakers (speaker-bootstrap 95 % CI):")
    print(f"{'setting':<24}{'VAD':>5}{'trim':>6}{'min fill':>9}{'UA %':>8}{'95 % CI':>15}"
          f"{'MF1 %':>8}{'top pred/true %':>17}  most predicted")
    for name, r in rows:
        s, c = r["settings"], r["consensus"]
        ci = "[%.1f, %.1f]" % (100 * c["ua_ci95"][0], 100 * c["ua_ci95"][1])
        share = "%.0f / %.0f" % (100 * c["top_share_pred"], 100 * c["top_share_true"])
        print(f"{name:<24}{'on' if s['vad'] else 'off':>5}{str(s['trim']):>6}{s['min_fill']:>9}"
              f"{100 * c['ua']:>8.1f}{ci:>15}{100 * c['macro_f1']:>8.1f}{share:>17}  {c['top_class_pred']}")
    print("\nper model, UA % (top-class share %):")
    names = sorted(r0["models"])
    print(f"{'setting':<24}" + "".join(f"{n[:14]:>16}" for n in names))
    for name, r in rows:
        cells = ["%.1f (%.0f)" % (100 * r["models"][n]["ua"], 100 * r["models"][n]["top_share_pred"])
                 for n in names]
        print(f"{name:<24}" + "".join(f"{x:>16}" for x in cells))


SETTINGS = {  # name: (which mask decides the votes, trim to the speech)
    "A_as_before": (None, False),              # every segment votes, padding included
    "B_no_padding_vote": ("padding", False),   # segments mostly zero padding do not vote
    "D_vad_vote": ("speech", False),           # segments mostly silence or padding do not vote
    "E_vad_trim_vote": ("speech", True),       # D + the clip cut to its speech (the default)
}


def _votes(svc, wave: torch.Tensor, m, speech, n: int) -> torch.Tensor:
    """The service's votes over all ``n`` segments: a last segment mostly padding, which the
    service does not cut (``min_tail``), does not vote."""
    keep = svc.speech_input(wave, m.sample_rate, m.spec, speech)[2]
    return torch.cat([keep, torch.zeros(n - len(keep), dtype=torch.bool)])


def ablate(root: Path, n: int, out: Path) -> None:
    """Consensus and per-model scores on left-out CREMA-D for every setting of SETTINGS, from
    one untrimmed and one trimmed forward pass per clip and model (votes differ, not inputs)."""
    from ser_core import loco
    from ser_core.features.segments import aggregate_posteriors, segment_waveform
    from ser_core.inference import InferenceService, canonical_label

    svc = InferenceService.from_paths(None, device="cpu", vad=True)
    data = load_labeled("cremad", [root / "cremad"], "ekman7")
    utts = subsample(list(data.utterances), None, n, 0)
    labels = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]
    probs = {k: {m.name: [] for m in svc.models} for k in SETTINGS}
    for i, u in enumerate(utts):
        audio = load_audio(u.path)
        speech = vad.analyse(audio.waveform, audio.sample_rate)
        cache: dict = {}
        for m in svc.models:
            wave = svc._at_rate(audio, m.sample_rate, cache)
            segs = segment_waveform(wave, m.sample_rate, m.spec.segment_s, m.spec.hop_s)
            with torch.inference_mode():
                seg_probs = torch.softmax(m.model(m.prepare(segs)).float(), -1)
            svc.trim = False
            masks = {None: None, "padding": _votes(svc, wave, m, None, len(segs)),
                     "speech": _votes(svc, wave, m, speech, len(segs))}
            svc.trim = True
            trimmed = svc._run(m, wave, speech=speech)[0].probs
            for name, (mask, trim) in SETTINGS.items():
                p = trimmed if trim else aggregate_posteriors(seg_probs, m.spec.aggregation, masks[mask]).tolist()
                row = np.zeros(len(labels))
                for lab, v in zip(m.labels, p):
                    row[labels.index(canonical_label(lab))] += v
                probs[name][m.name].append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(utts)}", file=sys.stderr, flush=True)
    y = [labels.index(u.label) for u in utts]
    spk = [u.speaker_key for u in utts]
    out.mkdir(parents=True, exist_ok=True)
    for name, (mask, trim) in SETTINGS.items():
        per = {k: np.asarray(v) for k, v in probs[name].items()}
        cons = sum(per.values()) / len(per)
        res = {"corpus": "cremad", "utterances": len(utts), "speakers": len(set(spk)), "labels": labels,
               "settings": {"vad": mask == "speech", "trim": trim,
                            "min_fill": 0.0 if mask is None else 0.5},
               "consensus": loco.scores(y, cons, labels, spk),
               "models": {k: loco.scores(y, v, labels, spk) for k, v in per.items()}}
        (out / f"{name}.json").write_text(json.dumps(res, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--clips", type=int, default=120, help="clips per corpus for part 1")
    ap.add_argument("--predictions", default=None, metavar="DIR", help="loco JSON files (part 2)")
    ap.add_argument("--skip-signal", action="store_true", help="only part 2")
    ap.add_argument("--ablate", type=int, default=None, metavar="N",
                    help="first compute the settings' results on N CREMA-D clips into --predictions")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.skip_signal:
        part1(Path(args.data), args.clips)
    if args.ablate:
        ablate(Path(args.data), args.ablate, Path(args.predictions or "runs/collapse"))
    if args.predictions:
        part2(Path(args.predictions))


if __name__ == "__main__":
    main()
