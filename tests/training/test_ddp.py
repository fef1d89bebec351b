"""The DistributedDataParallel path: ``torchrun`` with two CPU processes (gloo) runs a 2-fold
CV on a small generated corpus in the generic layout; rank 0 alone writes the results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tests.training.conftest import SR, clip

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_generic_corpus(root, speakers=4, emotions=("angry", "sad"), per=2):
    for s in range(speakers):
        for e, emo in enumerate(emotions):
            folder = root / emo / f"spk{s}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per):
                sf.write(folder / f"s{s}_{emo}_{i}.wav", clip(e, 10 * s + i).numpy(), SR)
    return root


def test_torchrun_two_cpu_processes(tmp_path):
    root = make_generic_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1",
           "SER_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ser_core", "train", "--model", "glam", "--corpus", "generic", "--root", str(root),
           "--protocol", "speaker-kfold", "--folds", "2", "--epochs", "2", "--batch-size", "4",
           "--device", "cpu", "--model-set", "stem_channels=4", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["world_size"] == 2 and run["status"] == "ok"
    results = json.loads((out / "results.json").read_text())
    assert len(results["folds"]) == 2
    events = [json.loads(l) for l in open(out / "progress.jsonl")]
    assert [e["event"] for e in events].count("run_start") == 1  # one writer
    assert events[0]["world_size"] == 2
    # each rank saw half of the training segments per epoch
    hist = json.loads((out / "history.json").read_text())
    first = next(iter(hist.values()))[0]
    fold = results["folds"][0]
    assert first["train_segments"] <= fold["train_segments"] // 2 + 1
    assert (out / "checkpoint" / "config.json").is_file()
    assert np.isfinite(results["summary"]["wa"]["mean"])
