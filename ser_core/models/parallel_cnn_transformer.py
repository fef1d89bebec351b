"""Parallel CNNs + transformer encoder on MFCC (seed 003, "Model Architecture", "Model Summary").

The seed is a report built on a public notebook ("parallel_all_you_want", RAVDESS, PyTorch);
its printed torchsummary fixes every layer and parameter count, the notebook supplies the
rest.

Input: ``(batch, 1, n_mfcc=40, n_frames=282)`` MFCC of a 3 s clip as a one-channel image
(feature kind ``"mfcc_image"``: the notebook's librosa settings, ``n_mfcc=40``,
``n_frames=282``); 8 RAVDESS classes.

Architecture (seed's summary):
    * two identical, parallel conv blocks: [conv 3x3 (padding 1) -> BN -> ReLU -> max-pool ->
      dropout] x 3 with 16, 32, 64 channels and pools 2x2, 4x4, 4x4:
      (1, 40, 282) -> (16, 20, 141) -> (32, 5, 35) -> (64, 1, 8), flattened to 512 each;
    * transformer branch: max-pool 1x4 on the input -> (40, 70), i.e. 70 time steps of
      d_model = 40 (the MFCC vector), 4 post-norm encoder layers (feed-forward 512, ReLU),
      mean over time -> 40;
    * concatenation 512 + 512 + 40 = 1064 -> linear -> 8 logits (softmax in the loss).

Parameters with 8 classes: 248,488 (derivation in ``tests/models/test_parallel_cnn_transformer``);
the seed's printed total 222,248 omits the 4 x 6,560 attention in/out projections.

Choices where the seed is silent (public notebook):
    * 4 attention heads (``nhead=4``), transformer dropout 0.4, conv-block dropout 0.3;
    * no positional encoding (the notebook has none);
    * layer order conv -> BN -> ReLU as in the printed summary; the prose says it puts BN after
      ReLU, the summary and the code do not, and we follow the summary.

Attention: each encoder layer's self-attention weights go through the probe
``encoder.<i>.self_attn.probe``: shape ``(batch, heads=4, queries=70, keys=70)``, summing to
one over the keys (``dim=-1``); one query/key step = 4 MFCC frames. Average over ``dim=1``
for one map per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ser_core.models.base import InputSpec, MfccImageInput, SERModel
from ser_core.models.layers import TransformerEncoderLayer
from ser_core.models.registry import register_model


@dataclass(frozen=True)
class ParallelCNNTransformerConfig:
    """Hyper-parameters; defaults are seed 003's (and its notebook's) values."""

    n_mfcc: int = 40
    n_frames: int = 282
    conv_channels: tuple[int, ...] = (16, 32, 64)
    conv_pools: tuple[int, ...] = (2, 4, 4)
    conv_dropout: float = 0.3
    #: max-pool width along time before the transformer (1 x 4)
    transformer_pool: int = 4
    num_layers: int = 4
    num_heads: int = 4
    dim_feedforward: int = 512
    transformer_dropout: float = 0.4

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        object.__setattr__(self, "conv_pools", tuple(int(p) for p in self.conv_pools))
        if len(self.conv_channels) != len(self.conv_pools):
            raise ValueError("conv_channels and conv_pools need the same length")
        f, t = self.conv_map_size
        if f < 1 or t < 1:
            raise ValueError(f"a {self.n_mfcc} x {self.n_frames} input is too small for the pools")

    @property
    def conv_map_size(self) -> tuple[int, int]:
        f, t = self.n_mfcc, self.n_frames
        for p in self.conv_pools:
            f, t = f // p, t // p
        return f, t

    @property
    def conv_embedding(self) -> int:
        f, t = self.conv_map_size
        return self.conv_channels[-1] * f * t


def _conv_block(c: ParallelCNNTransformerConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 1
    for out_ch, pool in zip(c.conv_channels, c.conv_pools):
        layers += [nn.Conv2d(in_ch, out_ch, 3, stride=1, padding=1), nn.BatchNorm2d(out_ch),
                   nn.ReLU(), nn.MaxPool2d(pool, pool), nn.Dropout(c.conv_dropout)]
        in_ch = out_ch
    return nn.Sequential(*layers)


@register_model
class ParallelCNNTransformer(MfccImageInput, SERModel):
    """Two parallel conv blocks + transformer encoder on ``(batch, 1, 40, 282)`` MFCC."""

    name = "parallel_cnn_transformer"
    seed = "003"
    section = "Model Architecture, Model Summary"
    input_spec = InputSpec(feature="mfcc_image", params={"n_mfcc": 40, "n_frames": 282},
                           segment_s=3.0, hop_s=None, aggregation="mean")
    config_cls = ParallelCNNTransformerConfig
    seed_num_classes = 8

    def __init__(self, num_classes: int, config: ParallelCNNTransformerConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        self.conv_a = _conv_block(c)
        self.conv_b = _conv_block(c)
        self.transformer_pool = nn.MaxPool2d((1, c.transformer_pool), (1, c.transformer_pool))
        self.encoder = nn.ModuleList(
            TransformerEncoderLayer(c.n_mfcc, c.num_heads, c.dim_feedforward,
                                    c.transformer_dropout, "relu")
            for _ in range(c.num_layers))
        self.classifier = nn.Linear(2 * c.conv_embedding + c.n_mfcc, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, c.n_mfcc, c.n_frames):
            raise ValueError(f"{self.name} expects (batch, 1, {c.n_mfcc}, {c.n_frames}), "
                             f"got {tuple(x.shape)}")
        emb_a = self.conv_a(x).flatten(1)
        emb_b = self.conv_b(x).flatten(1)
        seq = self.transformer_pool(x).squeeze(1).transpose(1, 2)  # (batch, time, n_mfcc)
        for layer in self.encoder:
            seq = layer(seq)
        emb_t = seq.mean(dim=1)
        return self.classifier(torch.cat((emb_a, emb_b, emb_t), dim=1))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = [("conv_a", [self.conv_a]),
                                                     ("conv_b", [self.conv_b])]
        groups += [(f"encoder{i + 1}", [layer]) for i, layer in enumerate(self.encoder)]
        groups.append(("classifier", [self.classifier]))
        return groups
