"""Peak memory and time of ``python -m ser_core predict`` on a long clip and on a
decompression bomb; prints one line per measurement (figures for the README).

    python scripts/measure_memory.py [--checkpoints checkpoints] [--minutes 9.9]

* the long clip: Emo-DB utterances (``$SER_DATA_ROOT`` or ``../shared/data``) joined end to
  end to ``--minutes`` at 16 kHz mono (a tone when the corpus is absent), written to a
  temporary folder (never into the repository);
* the bomb: 599 s x 8 channels x 192 kHz of silence as FLAC (about 1 MB on disk, 3.7 GB as
  float32 samples).

Each run is a fresh process under ``/usr/bin/time -v`` (peak RSS = "Maximum resident set
size", the whole process: Python, torch, the models and the clip).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def long_clip(path: Path, minutes: float) -> str:
    root = Path(os.environ.get("SER_DATA_ROOT", REPO.parent / "shared" / "data")) / "emodb" / "wav"
    n = int(minutes * 60 * 16000)
    files = sorted(p for p in root.glob("*") if p.suffix in (".wav", ".flac")) if root.is_dir() else []
    if files:
        from ser_core.audio import load_audio

        parts, total, i = [], 0, 0
        while total < n:
            x = load_audio(files[i % len(files)]).waveform.numpy()
            parts.append(x)
            total += len(x)
            i += 1
        sf.write(path, np.concatenate(parts)[:n], 16000, subtype="PCM_16")
        return f"{i} Emo-DB utterances joined"
    t = np.arange(n) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)))
             .astype(np.float32), 16000, subtype="PCM_16")
    return "a modulated tone (Emo-DB not found)"


def bomb(path: Path) -> None:
    frames, block = 599 * 192000, 192000 * 10
    with sf.SoundFile(path, "w", 192000, 8, format="FLAC", subtype="PCM_16") as f:
        zeros = np.zeros((block, 8), dtype=np.int16)
        for start in range(0, frames, block):
            f.write(zeros[:min(block, frames - start)])


def measure(cmd: list[str]) -> tuple[float, float, int, str]:
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
    wall = time.perf_counter() - t0
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 1024
    last = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    return wall, rss, res.returncode, (last[0] if last else res.stdout.strip().splitlines()[0] if res.stdout.strip() else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--minutes", type=float, default=9.9)
    ap.add_argument("--bomb-only", action="store_true", help="only the decompression bomb")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip, flac = Path(tmp) / "long.wav", Path(tmp) / "bomb.flac"
        cases = [("bomb", flac)]
        if not args.bomb_only:
            print(f"long clip: {args.minutes} min, {long_clip(clip, args.minutes)}")
            cases.insert(0, ("long clip", clip))
        bomb(flac)
        print(f"bomb: {flac.stat().st_size / 1e6:.2f} MB FLAC")
        predict = [sys.executable, "-m", "ser_core", "predict", "--checkpoint", args.checkpoints]
        for name, path in cases:
            wall, rss, rc, line = measure([*predict, str(path)])
            print(f"predict {name}: exit {rc}, {wall:.2f} s, peak RSS {rss:.0f} MB  | {line[:160]}")
        code = "import sys; from ser_core.audio import load_audio; load_audio(sys.argv[1])"
        for name, path in cases:
            wall, rss, rc, line = measure([sys.executable, "-c", code, str(path)])
            print(f"load_audio {name} alone: exit {rc}, {wall:.2f} s, peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
