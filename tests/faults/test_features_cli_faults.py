"""``python -m ser_core features`` with impossible settings: one ``error:`` sentence and
exit status 2, never a traceback or a machine brought down by a huge parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_core.cli import main
from ser_core.errors import ConfigError


@pytest.fixture
def wav(make_wav):
    return str(make_wav(seconds=1.0))


@pytest.mark.parametrize("extra,sentence", [
    (["--sample-rate", "-5"], "--sample-rate must be a whole number of Hz from 1000 to 192000, not -5."),
    (["--sample-rate", "10000000"], "--sample-rate must be a whole number"),
    (["--out", "/nonexistent/x.npy"], "the folder /nonexistent does not exist."),
    (["--out", "{tmp}"], "is a folder; give a file name inside it"),
    (["--out", "{tmp}/x.txt"], "--out must end in .npy"),
    (["--n-fft", "100000000"], "n_fft must be a whole number from 2 to 16384"),
    (["--n-mels", "1000000"], "n_mels must be a whole number from 1 to 512"),
    (["--hop", "0.00000001"], "hop must be from"),
    (["--param", "n_frames=10000000000", "--kind", "mfcc"], "n_frames must be a whole number"),
    (["--param", "lowpass_hz=1e12"], "lowpass_hz must be"),
])
def test_one_sentence_and_status_2(wav, tmp_path, capsys, extra, sentence):
    args = ["features", wav] + [e.format(tmp=tmp_path) for e in extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and sentence in err, err
    assert not list(tmp_path.glob("*.npy"))  # nothing written beside the folder either


def test_out_inside_a_folder_is_written_there(wav, tmp_path, capsys):
    assert main(["features", wav, "--out", str(tmp_path / "lm.npy")]) == 0
    assert np.load(tmp_path / "lm.npy").shape[1] == 40


def test_work_size_is_bounded_before_allocating():
    from ser_core.features.pipeline import extract

    long = torch.zeros(600 * 16000)  # 10 minutes
    with pytest.raises(ConfigError, match="million time-frequency values"):
        extract("spectrogram", long, 16000, n_fft=16384, win_length_s=1.0, hop_s=0.001)
    assert extract("logmel", long[:16000], 16000).shape == (1, 40, 98)


def test_the_teaching_chain_is_bounded_too():
    from ser_core.features.chain import feature_chain

    with pytest.raises(ConfigError, match="million time-frequency values"):
        feature_chain(torch.zeros(600 * 16000), 16000, n_fft=16384, win_length_s=1.0, hop_s=0.001)
