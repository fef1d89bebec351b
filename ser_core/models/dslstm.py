"""Dual-Sequence LSTM and the dual-level model (seed 004 §2.2-§3.1).

Wang, Xue, Culhane, Diao, Ding, Tarokh (ICASSP 2020), "Speech Emotion Recognition with
Dual-Sequence LSTM Architecture"; public code
``diaoenmao/Speech-Emotion-Recognition-with-Dual-Sequence-LSTM-Architecture``
(``src/final_model*/``), followed where the paper is silent.

Models
    ``dslstm``       M_DS-LSTM alone: two CNN blocks on the two mel-spectrograms -> alignment
                     -> 2-layer DS-LSTM (200) -> mean over time -> linear classifier.
    ``dual_dslstm``  M_LSTM + M_DS-LSTM: a 2-layer unidirectional LSTM (200) on the 39-d MFCC
                     sequence, mean-pooled, with its own linear classifier; the logits of the
                     two classifiers are averaged (weight 0.5 each, public code). The seed's
                     loss is the mean of the two cross-entropies: :meth:`DualDSLSTM.loss`.

Input (feature kind ``"dual_level"``): a dict of tensors
    ``"mfcc"``       ``(batch, 39, frames)``: 13 MFCC + 13 delta + 13 acceleration, 25 ms
                     frames (only ``dual_dslstm`` reads it);
    ``"mel_short"``  ``(batch, 1, 64, T1)``: log mel-spectrogram, n_fft 256, hop 128,
                     64 mel bands (better time resolution, S1 of the paper);
    ``"mel_long"``   ``(batch, 1, 128, T2)``: log mel-spectrogram, n_fft 512, hop 256,
                     128 mel bands (better frequency resolution, S2).
    The seed interpolates each utterance's spectrograms (nearest neighbour, along time) to
    the corpus' median length before the log; the whole utterance is one input
    (``segment_s=None``). ``T1`` / ``T2`` default to 460 / 230 frames: the public code's 230
    frames for the hop-256 spectrogram (~3.7 s of 16 kHz audio), doubled for hop 128.

The DS-LSTM cell (eqs. 1-8), ``[a, b]`` concatenation, ``rbn`` recurrent batch norm::

    f_t   = rbn(sigmoid(W_f  [x_t, y_t, h_{t-1}] + b_f))
    iT_t  = rbn(sigmoid(W_iT [x_t, y_t, h_{t-1}] + b_iT))
    iF_t  = rbn(sigmoid(W_iF [x_t, y_t, h_{t-1}] + b_iF))
    o_t   = rbn(sigmoid(W_o  [x_t, y_t, h_{t-1}] + b_o))
    cT_t  = tanh(W_T [x_t, h_{t-1}] + b_T)
    cF_t  = tanh(W_F [y_t, h_{t-1}] + b_F)
    C_t   = f_t * C_{t-1} + iT_t * cT_t + iF_t * cF_t
    h_t   = o_t * tanh(C_t)

``rbn`` keeps separate running statistics for every time step (Cooijmans et al. 2016) and
its affine weight / bias start at 0.1 / 0 (seed §3.1). The part of every product that acts on
the inputs is computed for all time steps at once before the recurrence; each step does one
``(batch, H) x (H, 6H)`` matrix product.

Choices where the seed is silent (public code unless stated):
    * CNN block: conv 4x4 (stride 1, no padding, as the seed says; the public code pads 1)
      -> BatchNorm2d -> ReLU -> max-pool 2x2 stride 2, channels 64 then 16; the output is
      flattened over (channels, frequency) per time step: 16 x 13 = 208 (x) and
      16 x 29 = 464 (y) features.
    * Alignment ("average of adjacent time steps of the longer sequence"): non-overlapping
      pairs are averaged, then both sequences are cut to the shorter length (the public code
      averages overlapping triples 2i..2i+2).
    * ``rbn`` is applied after the sigmoid exactly as in eqs. 1-4 (so gates are not confined
      to [0, 1]); the time-step statistics cover ``max_steps`` steps computed from the config;
      longer inputs reuse the last step's running statistics.
    * Between layers, ``h_t`` goes through a per-time-step batch norm (also weight 0.1,
      bias 0) and becomes the next layer's x input; the next layer's y input is the aligned
      long-window sequence again (public code). The last layer's normalised outputs are
      mean-pooled over time for the classifier.
    * M_LSTM: mean over all frames of the given sequence (batches are fixed-length); dropout 0.
    * Initial states are zeros; no dropout by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.models.base import InputSpec, SERModel
from ser_core.models.registry import register_model

INPUT_KEYS = ("mfcc", "mel_short", "mel_long")


class TimeStepBatchNorm(nn.Module):
    """Batch norm with separate running mean/variance for each time step (recurrent BN).

    ``step(x, t)`` normalises one step ``(batch, features)``; ``forward(x)`` normalises a whole
    sequence ``(batch, time, features)`` at once (statistics over the batch, per step). Steps
    ``>= max_steps`` reuse the last step's running statistics and do not update them.
    The affine parameters are shared over time and start at ``weight_init`` / ``bias_init``.
    """

    def __init__(self, num_features: int, max_steps: int, weight_init: float = 0.1,
                 bias_init: float = 0.0, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.num_features = num_features
        self.max_steps = max_steps
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.full((num_features,), float(weight_init)))
        self.bias = nn.Parameter(torch.full((num_features,), float(bias_init)))
        self.register_buffer("running_mean", torch.zeros(max_steps, num_features))
        self.register_buffer("running_var", torch.ones(max_steps, num_features))

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_steps={self.max_steps}"

    def step(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if t >= self.max_steps:
            # beyond the statistics: batch statistics in training, last step's in eval
            return F.batch_norm(x, self.running_mean[-1].clone(), self.running_var[-1].clone(),
                                self.weight, self.bias, self.training, 0.0, self.eps)
        # indexing gives views: batch_norm updates the step's running statistics in place
        return F.batch_norm(x, self.running_mean[t], self.running_var[t], self.weight,
                            self.bias, self.training, self.momentum, self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        if self.training:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            n = min(steps, self.max_steps)
            with torch.no_grad():
                unbiased = var[:n] * (x.shape[0] / max(x.shape[0] - 1, 1))
                self.running_mean[:n].lerp_(mean[:n], self.momentum)
                self.running_var[:n].lerp_(unbiased, self.momentum)
        else:
            idx = torch.arange(steps, device=x.device).clamp_(max=self.max_steps - 1)
            mean, var = self.running_mean[idx], self.running_var[idx]
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class DSLSTMLayer(nn.Module):
    """One DS-LSTM layer (six gates, eqs. 1-8) over whole sequences.

    ``forward(x, y)`` with ``x`` ``(batch, time, x_dim)`` and ``y`` ``(batch, time, y_dim)``
    returns ``(h, out)``: the raw hidden states and their per-step batch-normalised version
    (the input of the next layer), both ``(batch, time, hidden)``.

    Parameters, split by what they act on (the count equals the paper's
    ``W_{f,iT,iF,o}`` on ``[x, y, h]``, ``W_T`` on ``[x, h]``, ``W_F`` on ``[y, h]`` + biases):
    ``input_gates`` ``[x, y] -> 4H`` (+ b_f, b_iT, b_iF, b_o), ``input_time`` ``x -> H``
    (+ b_T), ``input_freq`` ``y -> H`` (+ b_F), ``recurrent`` ``h -> 6H`` (no bias).
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: int, max_steps: int,
                 bn_weight: float = 0.1, bn_bias: float = 0.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_gates = nn.Linear(x_dim + y_dim, 4 * hidden)
        self.input_time = nn.Linear(x_dim, hidden)
        self.input_freq = nn.Linear(y_dim, hidden)
        self.recurrent = nn.Linear(hidden, 6 * hidden, bias=False)
        self.gate_norm = TimeStepBatchNorm(4 * hidden, max_steps, bn_weight, bn_bias)
        self.out_norm = TimeStepBatchNorm(hidden, max_steps, bn_weight, bn_bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, steps, _ = x.shape
        hsz = self.hidden
        # input contributions of every step at once: (batch, time, 6H) = [gates | cT | cF]
        pre = torch.cat((self.input_gates(torch.cat((x, y), dim=-1)),
                         self.input_time(x), self.input_freq(y)), dim=-1)
        h = x.new_zeros(b, hsz)
        c = x.new_zeros(b, hsz)
        w_rec = self.recurrent.weight.t()
        outputs = []
        for t in range(steps):
            z = torch.addmm(pre[:, t], h, w_rec)
            gates = self.gate_norm.step(torch.sigmoid(z[:, :4 * hsz]), t)
            f, i_time, i_freq, o = gates.chunk(4, dim=1)
            cand = torch.tanh(z[:, 4 * hsz:])
            c = f * c + i_time * cand[:, :hsz] + i_freq * cand[:, hsz:]
            h = o * torch.tanh(c)
            outputs.append(h)
        hs = torch.stack(outputs, dim=1)
        return hs, self.out_norm(hs)


class SpectrogramCNN(nn.Module):
    """[conv kxk (no padding) -> BN -> ReLU -> max-pool 2x2] per channel count.

    ``(batch, 1, freq, time)`` -> ``(batch, time', channels * freq')``.
    """

    def __init__(self, channels: tuple[int, ...], kernel: int, pool: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for out_ch in channels:
            layers += [nn.Conv2d(in_ch, out_ch, kernel), nn.BatchNorm2d(out_ch), nn.ReLU(),
                       nn.MaxPool2d(pool, pool)]
            in_ch = out_ch
        self.layers = nn.Sequential(*layers)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        z = self.layers(spec)
        b, ch, f, t = z.shape
        return z.permute(0, 3, 1, 2).reshape(b, t, ch * f)


def _cnn_out(size: int, kernel: int, pool: int, n_layers: int) -> int:
    for _ in range(n_layers):
        size = (size - kernel + 1) // pool
    return size


@dataclass(frozen=True)
class DSLSTMConfig:
    """Hyper-parameters of M_DS-LSTM (and M_LSTM for ``dual_dslstm``); seed 004 §3.1 values."""

    n_mels_short: int = 64
    n_mels_long: int = 128
    n_frames_short: int = 460
    n_frames_long: int = 230
    cnn_channels: tuple[int, ...] = (64, 16)
    cnn_kernel: int = 4
    cnn_pool: int = 2
    hidden: int = 200
    num_layers: int = 2
    bn_weight: float = 0.1
    bn_bias: float = 0.0
    # M_LSTM (dual_dslstm only)
    mfcc_dim: int = 39
    mfcc_frames: int = 370
    lstm_hidden: int = 200
    lstm_layers: int = 2
    lstm_dropout: float = 0.0
    #: weight of the DS-LSTM logits in the average (public code p = 0.5)
    dslstm_weight: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))
        if self.x_dim < 1 or self.y_dim < 1 or self.max_steps < 1:
            raise ValueError("the mel-spectrograms are too small for the CNN blocks")

    def _out(self, size: int) -> int:
        return _cnn_out(size, self.cnn_kernel, self.cnn_pool, len(self.cnn_channels))

    @property
    def x_dim(self) -> int:
        return self.cnn_channels[-1] * self._out(self.n_mels_short)

    @property
    def y_dim(self) -> int:
        return self.cnn_channels[-1] * self._out(self.n_mels_long)

    @property
    def max_steps(self) -> int:
        """Time steps after the CNNs and the alignment (T3 of the paper)."""
        return min(self._out(self.n_frames_short) // 2, self._out(self.n_frames_long))


_DUAL_SPEC = InputSpec(feature="dual_level",
                       params={"n_frames_short": 460, "n_frames_long": 230},
                       segment_s=None, hop_s=None, aggregation="mean")


def _spec(x: dict, key: str, n_mels: int) -> torch.Tensor:
    if not isinstance(x, dict) or key not in x:
        raise ValueError(f"expected a dict with keys {INPUT_KEYS}, got "
                         f"{sorted(x) if isinstance(x, dict) else type(x).__name__}")
    s = x[key]
    if s.dim() == 3:
        s = s.unsqueeze(1)
    if s.dim() != 4 or s.shape[1] != 1 or s.shape[2] != n_mels:
        raise ValueError(f"{key!r} must be (batch, 1, {n_mels}, time), got {tuple(s.shape)}")
    return s


@register_model
class DSLSTM(SERModel):
    """M_DS-LSTM: CNN blocks on two mel-spectrograms, DS-LSTM, mean over time, classifier."""

    name = "dslstm"
    seed = "004"
    section = "§2.3.3-§2.3.4, §3.1"
    input_spec = _DUAL_SPEC
    config_cls = DSLSTMConfig
    seed_num_classes = 4

    def __init__(self, num_classes: int, config: DSLSTMConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        self.cnn_short = SpectrogramCNN(c.cnn_channels, c.cnn_kernel, c.cnn_pool)
        self.cnn_long = SpectrogramCNN(c.cnn_channels, c.cnn_kernel, c.cnn_pool)
        self.dslstm = nn.ModuleList(
            DSLSTMLayer(c.x_dim if i == 0 else c.hidden, c.y_dim, c.hidden, c.max_steps,
                        c.bn_weight, c.bn_bias)
            for i in range(c.num_layers))
        self.classifier = nn.Linear(c.hidden, num_classes)

    def aligned_sequences(self, x: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """CNN outputs of both spectrograms aligned to T3 steps: ``(batch, T3, x_dim/y_dim)``."""
        c = self.config
        seq_x = self.cnn_short(_spec(x, "mel_short", c.n_mels_short))
        seq_y = self.cnn_long(_spec(x, "mel_long", c.n_mels_long))
        pairs = seq_x.shape[1] // 2
        seq_x = seq_x[:, :2 * pairs].reshape(seq_x.shape[0], pairs, 2, -1).mean(2)
        steps = min(pairs, seq_y.shape[1])
        if steps < 1:
            raise ValueError("the mel-spectrograms are too short for the CNN blocks")
        return seq_x[:, :steps], seq_y[:, :steps]

    def dslstm_logits(self, x: dict) -> torch.Tensor:
        seq_x, seq_y = self.aligned_sequences(x)
        out = seq_x
        for layer in self.dslstm:
            _, out = layer(out, seq_y)
        return self.classifier(out.mean(dim=1))

    def forward(self, x: dict) -> torch.Tensor:
        return self.dslstm_logits(x)

    def example_input(self, batch_size: int = 2, seconds: float | None = None,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Random ``{"mfcc", "mel_short", "mel_long"}`` of the configured sizes; ``seconds``
        scales the frame counts (default: the configured, interpolated lengths)."""
        c = self.config
        scale = 1.0 if seconds is None else seconds * 100 / c.mfcc_frames
        n = lambda frames: max(1, int(round(frames * scale)))  # noqa: E731
        return {
            "mfcc": torch.randn(batch_size, c.mfcc_dim, n(c.mfcc_frames), generator=generator),
            "mel_short": torch.randn(batch_size, 1, c.n_mels_short, n(c.n_frames_short),
                                     generator=generator),
            "mel_long": torch.randn(batch_size, 1, c.n_mels_long, n(c.n_frames_long),
                                    generator=generator),
        }

    def _ds_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return ([("cnn", [self.cnn_short, self.cnn_long])]
                + [(f"dslstm{i + 1}", [layer]) for i, layer in enumerate(self.dslstm)])

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return self._ds_groups() + [("classifier", [self.classifier])]


@register_model
class DualDSLSTM(DSLSTM):
    """Dual-level model: M_LSTM on MFCC + M_DS-LSTM on mel-spectrograms, logits averaged."""

    heads = ("classifier", "mfcc_classifier")

    name = "dual_dslstm"
    section = "§2.3, §3.1"

    def __init__(self, num_classes: int, config: DSLSTMConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        self.mfcc_lstm = nn.LSTM(c.mfcc_dim, c.lstm_hidden, c.lstm_layers, batch_first=True,
                                 dropout=c.lstm_dropout if c.lstm_layers > 1 else 0.0)
        self.mfcc_classifier = nn.Linear(c.lstm_hidden, num_classes)

    def mfcc_logits(self, x: dict) -> torch.Tensor:
        c = self.config
        if "mfcc" not in x:
            raise ValueError(f"expected a dict with keys {INPUT_KEYS}, got {sorted(x)}")
        m = x["mfcc"]
        if m.dim() != 3 or m.shape[1] != c.mfcc_dim:
            raise ValueError(f"'mfcc' must be (batch, {c.mfcc_dim}, frames), got {tuple(m.shape)}")
        h, _ = self.mfcc_lstm(m.transpose(1, 2))
        return self.mfcc_classifier(h.mean(dim=1))

    def branch_logits(self, x: dict) -> dict[str, torch.Tensor]:
        """Logits of both sub-models: ``{"lstm": ..., "dslstm": ...}``."""
        return {"lstm": self.mfcc_logits(x), "dslstm": self.dslstm_logits(x)}

    def forward(self, x: dict) -> torch.Tensor:
        p = self.config.dslstm_weight
        out = self.branch_logits(x)
        return p * out["dslstm"] + (1 - p) * out["lstm"]

    def loss(self, x: dict, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The seed's loss, the weighted mean of both sub-models' cross-entropies.

        Returns ``(loss, logits)`` with ``logits`` what :meth:`forward` returns.
        """
        p = self.config.dslstm_weight
        out = self.branch_logits(x)
        loss = (p * F.cross_entropy(out["dslstm"], target)
                + (1 - p) * F.cross_entropy(out["lstm"], target))
        return loss, p * out["dslstm"] + (1 - p) * out["lstm"]

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return ([("mfcc_lstm", [self.mfcc_lstm])] + self._ds_groups()
                + [("classifier", [self.classifier, self.mfcc_classifier])])
