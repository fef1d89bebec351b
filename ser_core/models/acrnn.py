"""ACRNN: 3-D convolutional recurrent network with attention (seed 000 §3.1, §4.3.1).

Chen, He, Yang, Zhang (2018), "3-D Convolutional Recurrent Neural Networks with Attention
Model for Speech Emotion Recognition", IEEE SPL; public TensorFlow code
``xuanjihe/speech-emotion-recognition`` (``acrnn1.py``), which the thesis (seed 000 §5.1.1)
says it ran.

Input: ``(batch, 3, n_mels, time)`` = static log-mel, delta, delta-delta (feature kind
``"logmel_deltas"``: 40 mel bands, 25 ms Hamming / 10 ms shift), one 3 s segment
(298 frames); the utterance posterior is the per-class max over its segments (§4.3.1).
The network does not depend on the number of frames (BLSTM + attention pooling), only on
``n_mels``.

Architecture as the seed states it (§3.1.2):
    6 convolutions, kernel 5x3 (time x frequency), stride 1, 128 filters then 5 x 256;
    max-pool 2x2 after the first; linear bottleneck of 768 units with Leaky ReLU (0.01)
    applied to every time step; BLSTM with 128 cells per direction (256-d outputs);
    attention alpha_t = softmax_t(W . h_t), c = sum_t alpha_t h_t (eqs. 12-13; eq. 12 as
    printed lacks the exp, the softmax is meant); FC 64 + batch norm; softmax classifier.

Choices where the seed is silent (following the public code unless stated):
    * "same" zero padding of the convolutions (2 along time, 1 along frequency), bias on;
      Leaky ReLU (0.01) after every convolution.
    * The bottleneck is batch-normalised before its Leaky ReLU (public code
      ``batch_norm_wrapper``); the normalisation is over batch x time.
    * FC 64 -> batch norm -> Leaky ReLU (0.01) (the seed names FC 64 + BN, the public code
      the Leaky ReLU), then the linear classifier (logits; softmax is the loss's).
    * Attention score: one bias-free vector W as in eq. 12 (the public code's
      ``attention.py`` uses a sigmoid layer before the vector; we follow the seed's equation).
    * No dropout (public code default ``dropout_keep_prob=1``); configurable.
    * PyTorch's LSTM has two bias vectors per gate (b_ih and b_hh) where TensorFlow has one:
      the BLSTM has 2 x 4 x 128 = 1,024 more parameters than the TF model.

Deviation: the public code max-pools 2x4 (time x frequency: 40 bands -> 10) while the seed
text says 2x2 (§3.1.2.2); the default follows the seed (``pool_freq=2``, 20 bands, a
5,120 -> 768 bottleneck); ``pool_freq=4`` reproduces the public code.

Attention weights alpha_t, ``(batch, time after pooling)``, go through the probe
``attention.probe`` (axis "time"); each step covers ``pool_time`` input frames (20 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ser_core.models.base import InputSpec, SERModel
from ser_core.models.layers import AttentionPooling
from ser_core.models.registry import register_model


@dataclass(frozen=True)
class ACRNNConfig:
    """ACRNN hyper-parameters; defaults are seed 000 §3.1.2's values."""

    n_mels: int = 40
    #: frames in one 3 s segment (25 ms frames every 10 ms, not centred: 298; documentation
    #: and tests only, any length works)
    n_frames: int = 298
    in_channels: int = 3
    conv_channels: tuple[int, ...] = (128, 256, 256, 256, 256, 256)
    kernel_time: int = 5
    kernel_freq: int = 3
    pool_time: int = 2
    pool_freq: int = 2
    bottleneck: int = 768
    lstm_hidden: int = 128
    fc_hidden: int = 64
    leaky_slope: float = 0.01
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        if not self.conv_channels:
            raise ValueError("ACRNN needs at least one convolution")

    @property
    def pooled_mels(self) -> int:
        return self.n_mels // self.pool_freq


@register_model
class ACRNN(SERModel):
    """3-D CRNN with attention pooling; ``forward(x)`` with ``x`` ``(batch, 3, n_mels, time)``."""

    name = "acrnn"
    seed = "000"
    section = "§3.1, §4.3.1"
    input_spec = InputSpec(feature="logmel_deltas", params={"n_mels": 40}, segment_s=3.0,
                           hop_s=None, aggregation="max")
    config_cls = ACRNNConfig
    seed_num_classes = 4

    def __init__(self, num_classes: int, config: ACRNNConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        act = lambda: nn.LeakyReLU(c.leaky_slope)  # noqa: E731
        padding = (c.kernel_freq // 2, c.kernel_time // 2)
        convs = []
        in_ch = c.in_channels
        for i, out_ch in enumerate(c.conv_channels):
            layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, (c.kernel_freq, c.kernel_time),
                                                 stride=1, padding=padding), act()]
            if i == 0:
                layers.append(nn.MaxPool2d((c.pool_freq, c.pool_time)))
            if c.dropout:
                layers.append(nn.Dropout(c.dropout))
            convs.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        self.bottleneck = nn.Linear(in_ch * c.pooled_mels, c.bottleneck)
        self.bottleneck_norm = nn.BatchNorm1d(c.bottleneck)
        self.bottleneck_act = act()
        self.blstm = nn.LSTM(c.bottleneck, c.lstm_hidden, batch_first=True, bidirectional=True)
        self.attention = AttentionPooling(2 * c.lstm_hidden)
        self.fc = nn.Sequential(nn.Linear(2 * c.lstm_hidden, c.fc_hidden),
                                nn.BatchNorm1d(c.fc_hidden), act(), nn.Dropout(c.dropout))
        self.classifier = nn.Linear(c.fc_hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.dim() != 4 or x.shape[1] != c.in_channels or x.shape[2] != c.n_mels:
            raise ValueError(f"acrnn expects (batch, {c.in_channels}, {c.n_mels}, time), "
                             f"got {tuple(x.shape)}")
        for conv in self.convs:
            x = conv(x)
        b, ch, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, ch * f)  # one vector per time step
        x = self.bottleneck(x)
        x = self.bottleneck_norm(x.reshape(b * t, -1)).reshape(b, t, -1)
        x = self.bottleneck_act(x)
        h, _ = self.blstm(x)
        return self.classifier(self.fc(self.attention(h)))

    def example_input(self, batch_size: int = 2, seconds: float | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Random features ``(batch, 3, n_mels, frames)``; ``seconds`` at 10 ms per frame
        (default: one segment, ``n_frames``)."""
        c = self.config
        frames = c.n_frames if seconds is None else max(c.pool_time, int(round(seconds * 100)))
        return torch.randn(batch_size, c.in_channels, c.n_mels, frames, generator=generator)

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = [
            (f"conv{i + 1}", [m]) for i, m in enumerate(self.convs)]
        groups += [
            ("bottleneck", [self.bottleneck, self.bottleneck_norm]),
            ("blstm", [self.blstm]),
            ("attention", [self.attention]),
            ("fc", [self.fc]),
            ("classifier", [self.classifier]),
        ]
        return groups
