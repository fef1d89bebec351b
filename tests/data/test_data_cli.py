"""``python -m ser_core datasets ...`` on generated trees and (when present) the real corpora."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus_helpers import write_files
from ser_core.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def my_folder(tmp_path):
    """A user's own recordings: one folder per emotion, one sub-folder per speaker."""
    names = [f"{emo}/{spk}/{i}.wav" for emo in ("angry", "happy", "sad", "neutral")
             for spk in ("ann", "bob", "cid", "dee") for i in range(2)]
    write_files(tmp_path / "mine", names)
    write_files(tmp_path / "mine", ["angry/ann/broken.wav"])
    (tmp_path / "mine" / "angry" / "ann" / "broken.wav").write_bytes(b"nope")
    return tmp_path / "mine"


def test_summary_json_keys(capsys, my_folder):
    code, out, _ = run(capsys, "datasets", "summary", "--corpus", "generic", "--root", str(my_folder), "--json")
    assert code == 0
    s = json.loads(out)
    assert {"corpus", "files", "speakers", "by_emotion", "by_speaker", "skipped"} <= set(s)
    assert (s["corpus"], s["files"], s["speakers"]) == ("generic", 32, 4)
    assert s["by_emotion"] == {"angry": 8, "happy": 8, "neutral": 8, "sad": 8}
    assert s["skipped"][0]["path"].endswith("broken.wav") and "unreadable" in s["skipped"][0]["reason"]


def test_summary_text_and_labels(capsys, my_folder):
    code, out, _ = run(capsys, "datasets", "summary", "--corpus", "generic", "--root", str(my_folder),
                       "--labels", "iemocap4")
    assert code == 0 and "32 files, 4 speakers, 1 skipped" in out and "iemocap4@v1" in out


def test_splits_on_a_users_folder(capsys, my_folder, tmp_path):
    out_file = tmp_path / "split.json"
    code, out, _ = run(capsys, "datasets", "splits", "--corpus", "generic", "--root", str(my_folder),
                       "--protocol", "loso", "--val-speakers", "1", "--labels", "ekman7", "--json",
                       "--out", str(out_file))
    assert code == 0
    d = json.loads(out)
    assert d["split"]["protocol"] == "leave-one-speaker-out" and len(d["split"]["folds"]) == 4
    assert d["data"]["label_set"]["id"] == "ekman7@v1"
    assert json.loads(out_file.read_text())["fingerprint"] == d["split"]["fingerprint"]
    code, out, _ = run(capsys, "datasets", "splits", "--corpus", "generic", "--root", str(my_folder),
                       "--protocol", "speaker-dependent-random")
    assert code == 0 and "WARNING: speakers are shared" in out


def test_user_errors_exit_2_with_one_line(capsys, tmp_path, my_folder):
    code, _, err = run(capsys, "datasets", "summary", "--corpus", "timit", "--root", str(tmp_path))
    assert code == 2 and err.startswith("error: Unknown corpus")
    code, _, err = run(capsys, "datasets", "splits", "--corpus", "ravdess,emodb", "--root", str(tmp_path),
                       "--protocol", "loso")
    assert code == 2 and "2 corpora but 1 root" in err
    flat = tmp_path / "flat"
    write_files(flat, ["angry/a.wav", "sad/b.wav", "sad/c.wav"])
    code, _, err = run(capsys, "datasets", "splits", "--corpus", "generic", "--root", str(flat), "--protocol", "loso")
    assert code == 2 and "no speaker information" in err


def test_labels_and_list(capsys):
    code, out, _ = run(capsys, "datasets", "labels", "--labels", "ekman7", "--json")
    assert code == 0 and json.loads(out)["tables"]["ravdess"]["calm"] is None
    code, out, _ = run(capsys, "datasets", "labels")
    assert code == 0 and "dropped calm" in out and "excited+happy->happy" in out
    code, out, _ = run(capsys, "datasets", "list", "--json")
    assert code == 0 and len(json.loads(out)) == 11


def test_cache_command(capsys, my_folder, tmp_path):
    code, out, _ = run(capsys, "datasets", "cache", "--corpus", "generic", "--root", str(my_folder),
                       "--cache-dir", str(tmp_path / "c"))
    assert code == 0 and "cached 32 files" in out
    assert len(list((tmp_path / "c").rglob("*.safetensors"))) == 32


@pytest.mark.corpus
def test_real_summary_through_python_m(ravdess_root):
    proc = subprocess.run([sys.executable, "-m", "ser_core", "datasets", "summary", "--corpus", "ravdess",
                           "--root", str(ravdess_root), "--json"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["files"], s["speakers"], s["by_emotion"]["neutral"], s["skipped"]) == (1440, 24, 96, [])
