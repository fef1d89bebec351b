"""The command line: ``python -m ser_core --help``, ``features`` and ``bench``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_core.cli import build_parser, main

SR = 16000
REPO = Path(__file__).resolve().parents[1]


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 - np.cos(2 * np.pi * t / seconds))
    return (0.3 * env * sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 6))).astype(np.float32)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ser_core", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=300)


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._subparsers._group_actions if a.dest == "command")
    return sorted(action.choices)


def test_help_lists_every_subcommand():
    res = run_cli("--help")
    assert res.returncode == 0, res.stderr
    names = subcommands()
    assert {"features", "bench"} <= set(names)
    for name in names:
        assert name in res.stdout, f"{name} missing from --help"


@pytest.fixture
def speech_wav(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, tone(220.0, 1.0, 22050), 22050)
    return path


CHAIN = {"preemphasis": (1, 16000), "spectrogram": (1, 257, 98), "logmel": (1, 40, 98),
         "delta": (1, 40, 98), "delta2": (1, 40, 98), "mfcc": (1, 40, 98), "chroma": (1, 12, 44)}


@pytest.mark.parametrize("kind", list(CHAIN))
def test_features_writes_the_array(tmp_path, speech_wav, kind, capsys):
    out = tmp_path / f"{kind}.npy"
    assert main(["features", str(speech_wav), "--kind", kind, "--out", str(out)]) == 0
    arr = np.load(out)
    assert arr.shape == CHAIN[kind] and arr.dtype == np.float32 and np.isfinite(arr).all()
    assert str(list(CHAIN[kind])) in capsys.readouterr().out


def test_features_options_and_json(tmp_path, speech_wav, capsys):
    out = tmp_path / "m.npy"
    code = main(["features", str(speech_wav), "--kind", "mfcc", "--n-mels", "64", "--n-mfcc", "20",
                 "--n-fft", "1024", "--hop", "0.02", "--preemphasis", "0.9", "--window", "hann",
                 "--param", "delta=regression", "--out", str(out), "--json"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [1, 20, 49] and np.load(out).shape == (1, 20, 49)
    p = info["params"]
    assert (p["n_mels"], p["n_mfcc"], p["n_fft"], p["hop_s"], p["preemphasis"], p["window"]) == \
        (64, 20, 1024, 0.02, 0.9, "hann")
    assert info["samples"] == {"win_length": 400, "hop_length": 320, "n_fft": 1024}
    assert info["sample_rate"] == 16000 and info["original_sample_rate"] == 22050


def test_features_multi_input_kind_needs_npz(tmp_path, speech_wav, capsys):
    assert main(["features", str(speech_wav), "--kind", "mel_pair", "--out", str(tmp_path / "p.npy")]) == 2
    assert "use --out FILE.npz" in capsys.readouterr().err
    assert main(["features", str(speech_wav), "--kind", "mel_pair", "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as z:
        assert set(z.files) == {"mel_short", "mel_long"}


def test_features_list_kinds(capsys):
    assert main(["features", "--list-kinds", "--json"]) == 0
    kinds = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert set(CHAIN) <= kinds and "logmel_deltas" in kinds


@pytest.mark.parametrize("argv,message", [
    (["--kind", "mfcc", "--n-mfcc", "50"], "error: n_mfcc \\(50\\) must be between 1 and n_mels"),
    (["--kind", "logmel", "--hop", "160"], "error: --hop is in seconds"),
    (["--kind", "spectrogram", "--n-mels", "40"], "error: feature kind 'spectrogram' has no parameter"),
    (["--kind", "nope"], "error: unknown feature kind 'nope'"),
    (["--kind", "logmel", "--n-fft", "128"], "error: n_fft \\(128\\) must be at least the frame length"),
])
def test_features_bad_parameters(speech_wav, capsys, argv, message):
    assert main(["features", str(speech_wav), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_features_bad_audio_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "random.wav"
    bad.write_bytes(np.random.default_rng(0).bytes(2048))
    res = run_cli("features", str(bad), "--kind", "logmel", "--out", str(tmp_path / "x.npy"))
    assert res.returncode == 2
    assert res.stderr.startswith("error: random.wav is not an audio file")
    assert "Traceback" not in res.stderr and not (tmp_path / "x.npy").exists()


def test_bench_help_and_a_tiny_run(capsys):
    from ser_core.features import benchmark as B

    rows, checks = B.run(("cpu",), batch=2, durations=(0.5, 1.0), repeats=1, long_batch=2)
    assert [r.case for r in rows] == ["1 x 0.5 s", "1 x 1 s", "2 x 0.5 s", "2 x 1 s"]
    assert all(r.ours_s > 0 and r.librosa_s > 0 for r in rows)
    for name, diff in checks["cpu"].items():
        assert diff <= B.TOLERANCES[name], (name, diff)
    table = B.format_table(rows, checks)
    assert "speed-up" in table and "FAIL" not in table
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    assert "features" in capsys.readouterr().out
