"""DS-LSTM and the dual-level model (seed 004): the six-gated cell of eqs. 1-8 with
recurrent batch norm, alignment, parameter counts, the averaged outputs and loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ser_core.models import count_parameters, create_model, model_class
from ser_core.models.dslstm import DSLSTMLayer, TimeStepBatchNorm


def dslstm_parameters(num_classes: int) -> int:
    """Seed 004 §2.3.3-§3.1 with the public code's BN in the CNN blocks.

    CNN block (x2): conv 4x4 1 -> 64 (+ BN), conv 4x4 64 -> 16 (+ BN).
    x: 64 mels -> 61 -> 30 -> 27 -> 13 bands x 16 channels = 208; y: 128 -> 29 bands = 464.
    DS-LSTM layer: W_{f,iT,iF,o} [x, y, h] -> 4 x 200, W_T [x, h] -> 200, W_F [y, h] -> 200,
    biases; recurrent BN of the 4 gates and BN of h (weight + bias each).
    """
    cnn = (16 * 64 + 64 + 2 * 64) + (64 * 16 * 16 + 16 + 2 * 16)

    def layer(x: int, y: int, h: int = 200) -> int:
        return ((x + y + h) * 4 * h + 4 * h + (x + h) * h + h + (y + h) * h + h
                + 2 * 4 * h + 2 * h)

    return 2 * cnn + layer(208, 464) + layer(200, 464) + 200 * num_classes + num_classes


def lstm_parameters(num_classes: int) -> int:
    """M_LSTM: 2-layer LSTM 39 -> 200 (PyTorch: two bias vectors per gate) + classifier."""
    return (4 * 200 * (39 + 200) + 2 * 4 * 200 + 4 * 200 * (200 + 200) + 2 * 4 * 200
            + 200 * num_classes + num_classes)


def test_parameter_counts():
    assert dslstm_parameters(4) == 1_858_500
    assert lstm_parameters(4) == 515_204
    assert count_parameters(create_model("dslstm", 4)) == dslstm_parameters(4)
    assert count_parameters(create_model("dual_dslstm", 4)) == (
        dslstm_parameters(4) + lstm_parameters(4))


def test_config_derives_sizes_and_steps():
    c = create_model("dslstm", 4).config
    # 460 -> 457 -> 228 -> 225 -> 112 steps, pairs -> 56; 230 -> 227 -> 113 -> 110 -> 55
    assert (c.x_dim, c.y_dim, c.max_steps) == (208, 464, 55)
    assert model_class("dual_dslstm").input_spec.feature == "dual_level"
    assert model_class("dual_dslstm").seed_num_classes == 4


def test_alignment_averages_adjacent_steps_of_the_longer_sequence():
    model = create_model("dslstm", 4).eval()
    x = model.example_input(batch_size=2)
    with torch.no_grad():
        seq_x, seq_y = model.aligned_sequences(x)
        raw_x = model.cnn_short(x["mel_short"])
        raw_y = model.cnn_long(x["mel_long"])
    assert seq_x.shape == (2, 55, 208) and seq_y.shape == (2, 55, 464)
    torch.testing.assert_close(seq_x[:, 3], (raw_x[:, 6] + raw_x[:, 7]) / 2)
    torch.testing.assert_close(seq_y, raw_y[:, :55])


def reference_layer(layer: DSLSTMLayer, x: torch.Tensor, y: torch.Tensor, training: bool):
    """Eqs. 1-8 written out literally, one time step at a time."""
    H = layer.hidden
    dx = x.shape[-1]
    W_gates = torch.cat((layer.input_gates.weight, layer.recurrent.weight[:4 * H]), dim=1)
    b_gates = layer.input_gates.bias
    W_T = torch.cat((layer.input_time.weight, layer.recurrent.weight[4 * H:5 * H]), dim=1)
    W_F = torch.cat((layer.input_freq.weight, layer.recurrent.weight[5 * H:]), dim=1)
    gn, on = layer.gate_norm, layer.out_norm

    def rbn(v, t, norm):
        if training:
            mean, var = v.mean(0), v.var(0, unbiased=False)
        else:
            mean, var = norm.running_mean[t], norm.running_var[t]
        return (v - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias

    h = torch.zeros(x.shape[0], H)
    C = torch.zeros(x.shape[0], H)
    hs, outs = [], []
    for t in range(x.shape[1]):
        xyh = torch.cat((x[:, t], y[:, t], h), dim=1)
        g = rbn(torch.sigmoid(xyh @ W_gates.T + b_gates), t, gn)       # eqs. 1-4
        f, i_T, i_F, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
        c_T = torch.tanh(torch.cat((x[:, t], h), 1) @ W_T.T + layer.input_time.bias)  # eq. 5
        c_F = torch.tanh(torch.cat((y[:, t], h), 1) @ W_F.T + layer.input_freq.bias)  # eq. 6
        C = f * C + i_T * c_T + i_F * c_F                                # eq. 7
        h = o * torch.tanh(C)                                            # eq. 8
        hs.append(h)
        outs.append(rbn(h, t, on))
    assert dx == layer.input_time.in_features
    return torch.stack(hs, 1), torch.stack(outs, 1)


def test_layer_matches_equations_1_to_8():
    torch.manual_seed(0)
    layer = DSLSTMLayer(x_dim=5, y_dim=7, hidden=6, max_steps=4)
    assert torch.all(layer.gate_norm.weight == 0.1) and torch.all(layer.gate_norm.bias == 0)
    x, y = torch.randn(3, 4, 5), torch.randn(3, 4, 7)
    # training: batch statistics per time step
    layer.train()
    h, out = layer(x, y)
    ref_h, ref_out = reference_layer(layer, x, y, training=True)
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    # evaluation: each step's own running statistics (different per step after training)
    for _ in range(3):
        layer(x * 2 + 1, y)
    assert not torch.allclose(layer.gate_norm.running_mean[0], layer.gate_norm.running_mean[3])
    layer.eval()
    with torch.no_grad():
        h, out = layer(x, y)
        ref_h, ref_out = reference_layer(layer, x, y, training=False)
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)


def test_time_step_batch_norm_sequence_equals_steps():
    torch.manual_seed(1)
    seq_norm = TimeStepBatchNorm(3, max_steps=4)
    step_norm = TimeStepBatchNorm(3, max_steps=4)
    x = torch.randn(5, 6, 3) * 3 + 2  # 6 steps > max_steps: the last statistics are reused
    out_seq = seq_norm(x)
    out_steps = torch.stack([step_norm.step(x[:, t], t) for t in range(6)], 1)
    torch.testing.assert_close(out_seq, out_steps)
    torch.testing.assert_close(seq_norm.running_mean, step_norm.running_mean)
    torch.testing.assert_close(seq_norm.running_var, step_norm.running_var)
    seq_norm.eval()
    step_norm.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            seq_norm(x), torch.stack([step_norm.step(x[:, t], t) for t in range(6)], 1))


def test_dual_level_averages_the_two_classifiers_and_their_losses():
    torch.manual_seed(2)
    model = create_model("dual_dslstm", 4, cnn_channels=(4, 4), hidden=8, lstm_hidden=8,
                         n_frames_short=60, n_frames_long=30, mfcc_frames=30).eval()
    x = model.example_input(batch_size=3)
    target = torch.tensor([0, 2, 3])
    with torch.no_grad():
        branches = model.branch_logits(x)
        logits = model(x)
        loss, loss_logits = model.loss(x, target)
    torch.testing.assert_close(logits, (branches["lstm"] + branches["dslstm"]) / 2)
    torch.testing.assert_close(loss_logits, logits)
    expected = (F.cross_entropy(branches["lstm"], target)
                + F.cross_entropy(branches["dslstm"], target)) / 2
    torch.testing.assert_close(loss, expected)


def test_full_size_forward_on_configured_lengths():
    model = create_model("dual_dslstm", 4).eval()
    with torch.no_grad():
        assert model(model.example_input(batch_size=2)).shape == (2, 4)
    names = [n for n, _ in model.layer_groups()]
    assert names == ["mfcc_lstm", "cnn", "dslstm1", "dslstm2", "classifier"]
