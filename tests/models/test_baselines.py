"""Seed 001's baselines (§5.2, Table 3): MLP, LSTM, CNN-BiLSTM, CNN, SVM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_core.models import count_parameters, create_model
from ser_core.models.baselines import SVMBaseline, pad_or_truncate

N = 48_000  # 3 s at 16 kHz: the padded time series


def lstm_params(inp: int, hidden: int) -> int:
    """PyTorch LSTM, one layer and direction: 4 gates x (W_ih, W_hh, b_ih, b_hh)."""
    return 4 * hidden * (inp + hidden) + 2 * 4 * hidden


# Derivations (public-code architectures, 7 TESS classes, 48,000-sample input):
#   mlp: Linear(48000, 100) + Linear(100, 7)
#   lstm: LSTM(8000, 128) + Linear(128, 32) + Linear(32, 7)
#   cnn_bilstm: Conv1d(1, 32, 5) + Conv1d(32, 64, 5) + 2 x LSTM(64, 60) + Linear(120, 7)
#   cnn: Conv1d(1, 32, 5) + BN(32) + Conv1d(32, 32, 5) + BN(32) + Linear(32 * 48000, 32)
#        + BN(32) + Linear(32, 7)
EXPECTED = {
    "mlp": (N * 100 + 100) + (100 * 7 + 7),
    "lstm": lstm_params(8000, 128) + (128 * 32 + 32) + (32 * 7 + 7),
    "cnn_bilstm": (32 * 5 + 32) + (64 * 32 * 5 + 64) + 2 * lstm_params(64, 60) + (120 * 7 + 7),
    "cnn": (32 * 5 + 32) + 64 + (32 * 32 * 5 + 32) + 64 + (32 * N * 32 + 32) + 64 + (32 * 7 + 7),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts(name):
    assert count_parameters(create_model(name, 7)) == EXPECTED[name]


def test_known_totals():
    assert EXPECTED["mlp"] == 4_800_807
    assert EXPECTED["cnn"] == 49_157_799
    assert EXPECTED["cnn_bilstm"] == 71_823


@pytest.mark.parametrize("name", ["mlp", "lstm", "cnn_bilstm"])
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name, 5)
    x = 0.1 * torch.randn(3, 4000)
    y = model(x)
    assert y.shape == (3, 5)
    y.logsumexp(-1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.input_spec.feature == "waveform" and model.input_spec.segment_s == 3.0


def test_cnn_forward_backward_small():
    torch.manual_seed(1)
    model = create_model("cnn", 4, input_samples=2000)
    y = model(0.1 * torch.randn(3, 1, 1500))  # (batch, 1, time) accepted, padded to 2000
    assert y.shape == (3, 4)
    y.sum().backward()
    assert model.fc[0].weight.grad.shape == (32, 32 * 2000)


@pytest.mark.parametrize("name", ["mlp", "lstm", "cnn"])
def test_fixed_size_models_pad_and_truncate(name):
    torch.manual_seed(2)
    over = {"input_samples": 16_000} if name != "lstm" else {"input_samples": 16_000,
                                                             "step_samples": 4000}
    model = create_model(name, 3, **over).eval()
    x = 0.1 * torch.randn(2, 10_000)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(pad_or_truncate(x, 16_000)))
        long = torch.cat([x, x, x], dim=1)
        torch.testing.assert_close(model(long), model(long[:, :16_000]))
        torch.testing.assert_close(model(x), torch.cat([model(x[:1]), model(x[1:])]))


def test_cnn_bilstm_minimum_length_and_classifier_reset():
    model = create_model("cnn_bilstm", 7)
    assert model.config.min_samples == 25
    model(torch.zeros(1, 25))
    with pytest.raises(ValueError, match="at least 25 samples"):
        model(torch.zeros(1, 24))
    model.reset_classifier(4)
    assert model(torch.zeros(2, 500)).shape == (2, 4)
    assert [n for n, _ in model.layer_groups()][-1] == "classifier"


def test_svm_fits_and_predicts_separable_set():
    rng = np.random.default_rng(0)
    # three classes: tones of different frequency (waveforms, 0.1 s at 16 kHz)
    t = np.arange(1600) / 16000
    x, y = [], []
    for label, f in enumerate((200.0, 900.0, 3000.0)):
        for _ in range(8):
            x.append(0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 0.3))
                     + 0.01 * rng.standard_normal(t.size))
            y.append(label)
    x, y = np.stack(x), np.array(y)
    svm = SVMBaseline(input_samples=2000, gamma="scale").fit(x, y)
    assert svm.score(x, y) == 1.0
    proba = svm.predict_proba(torch.from_numpy(x[:3]).float())
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert list(svm.classes_) == [0, 1, 2]
    assert svm.features(x[0]).shape == (1, 2000)
