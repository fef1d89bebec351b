"""GLAM: global-aware multi-scale network (seed 000 §3.2, §4.3.2) and its extension (§5.3).

Zhu & Li (ICASSP 2022), "Speech Emotion Recognition with Global-Aware Fusion on Multi-scale
Feature Representation"; public PyTorch code ``lixiangucas01/GLAM`` (``models.py``, class
``GLAM``; the gMLP comes from the ``g_mlp_pytorch`` package), which we follow where the seed
is silent.

Input: ``(batch, 1, n_mfcc, n_frames)`` MFCC of one 2 s segment (feature kind ``"mfcc"``);
segments overlap by 1.6 s (hop 0.4 s) and the utterance posterior is their mean (§4.3.2).

Architecture (seed §3.2.2, widths from the public code):
    * stem: a 3x1 conv (frequency x time; "temporal" in the seed's words) and a 1x3 conv,
      16 channels each, each + BN (+ ReLU, public code), concatenated along the frequency
      axis ("spatial dimension") -> (16, 2 n_mfcc, n_frames);
    * multi-scale blocks: 3x3 and 5x5 convs (padding 1 / 2, C -> C each) with the input
      added to each (shortcut), concatenated (2C channels), BN (+ ReLU); 16 -> 32 -> 64 ->
      128 channels; 2x2 max-pool after the first two blocks;
    * 5x5 conv (128 -> 128, padding 2) + BN (+ ReLU);
    * global-aware block (gMLP, eqs. 19-23): the map is reshaped to tokens = channels,
      features = frequency x time positions; pre-LayerNorm, ``Z = GELU(X U)`` with
      ``U`` widening 4x, spatial gating unit ``s(Z) = Z1 * act(W norm(Z2) + b)`` where ``W``
      is a 1x1 convolution across the tokens (initialised near 0, bias 1), ``Y = s(Z) V``,
      plus the residual; then ReLU, flatten and one linear classifier.

Choices where the seed is silent (public code):
    * 26 MFCCs (``process.py``: ``nmfcc=26``) computed with librosa's defaults
      (n_fft 2048, hop 512 at 16 kHz), i.e. 63 frames per 2 s segment: input 26 x 63
      (``LIBROSA_MFCC_26``: the ``"mfcc"`` feature parameters that reproduce
      ``librosa.feature.mfcc``; no z-score or pre-emphasis, unlike seed 000's chain);
    * the gate activation ``act`` is tanh (``gMLP(..., act=nn.Tanh())``); eq. 22 of the seed
      has no activation;
    * ReLU after the stem BNs, the multi-scale BNs, the last BN and the gMLP output;
    * a single gMLP layer (depth 1), widening factor 4; no dropout (the public model defines
      a dropout it never applies).

``glam_plus`` (seed 000 §5.3, "one more multi-scale block"): the seed does not say where;
we append the fourth block after the third (no extra pooling), so channels reach 256 and the
5x5 conv and the gMLP work on 256 tokens.

No attention distribution exists in this model (the gate is not normalised), so it has no
attention probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.models.base import InputSpec, MfccImageInput, SERModel
from ser_core.models.registry import register_model

#: ``librosa.feature.mfcc(y, sr=16000, n_mfcc=26)`` (the public code's features) expressed as
#: ``"mfcc"`` feature parameters: Hann 2048 / hop 512 (128 ms / 32 ms), centred, 128 slaney
#: mels, power in dB (top 80 dB), DCT-II ortho, 26 coefficients, 63 frames per 2 s
LIBROSA_MFCC_26 = {
    "n_mfcc": 26, "n_fft": 2048, "win_length_s": 2048 / 16000, "hop_s": 512 / 16000,
    "window": "hann", "periodic_window": True, "center": True, "n_mels": 128,
    "mel_scale": "slaney", "mel_norm": "slaney", "log": "db", "top_db": 80.0,
    "zscore": False, "preemphasis": 0.0, "n_frames": 63,
}

_ACTIVATIONS = {"tanh": torch.tanh, "identity": lambda z: z, "sigmoid": torch.sigmoid}


@dataclass(frozen=True)
class GLAMConfig:
    """GLAM hyper-parameters; defaults are seed 000 §3.2 / the public code's values."""

    n_mfcc: int = 26
    #: frames of one 2 s segment (librosa default hop 512 at 16 kHz); sets the gMLP width
    n_frames: int = 63
    stem_channels: int = 16
    n_blocks: int = 3
    #: 2x2 max-pools, after the first ``n_pools`` multi-scale blocks
    n_pools: int = 2
    ff_mult: int = 4
    gate_activation: str = "tanh"

    def __post_init__(self) -> None:
        if self.n_pools > self.n_blocks:
            raise ValueError("n_pools cannot exceed n_blocks")
        if self.gate_activation not in _ACTIVATIONS:
            raise ValueError(f"gate_activation must be one of {sorted(_ACTIVATIONS)}")

    @property
    def channels(self) -> int:
        return self.stem_channels * 2 ** self.n_blocks

    @property
    def map_size(self) -> tuple[int, int]:
        """(frequency, time) size of the last feature map."""
        f, t = 2 * self.n_mfcc, self.n_frames
        for _ in range(self.n_pools):
            f, t = f // 2, t // 2
        return f, t


@dataclass(frozen=True)
class GLAMPlusConfig(GLAMConfig):
    """GLAM with one more multi-scale block (seed 000 §5.3)."""

    n_blocks: int = 4


class MultiScaleBlock(nn.Module):
    """3x3 and 5x5 convolutions with shortcuts, concatenated, BN, ReLU: C -> 2C channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv3 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv5 = nn.Conv2d(channels, channels, 5, padding=2)
        self.bn = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat((self.conv3(x) + x, self.conv5(x) + x), dim=1)
        return F.relu(self.bn(y))


class SpatialGatingUnit(nn.Module):
    """``s(Z) = Z1 * act(W norm(Z2) + b)`` with ``W`` a 1x1 conv across the tokens (eqs. 22-23)."""

    def __init__(self, dim_ff: int, seq_len: int, activation: str = "tanh") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim_ff // 2)
        self.proj = nn.Conv1d(seq_len, seq_len, 1)
        eps = 1e-3 / seq_len  # gMLP's near-identity initialisation
        nn.init.uniform_(self.proj.weight, -eps, eps)
        nn.init.ones_(self.proj.bias)
        self.activation = activation

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = z.chunk(2, dim=-1)
        gate = self.proj(self.norm(z2))
        return z1 * _ACTIVATIONS[self.activation](gate)


class GlobalAwareBlock(nn.Module):
    """One gMLP layer (eqs. 19-21) with pre-LayerNorm and residual: ``(batch, tokens, dim)``."""

    def __init__(self, dim: int, seq_len: int, ff_mult: int = 4, activation: str = "tanh") -> None:
        super().__init__()
        dim_ff = dim * ff_mult
        self.norm = nn.LayerNorm(dim)
        self.proj_in = nn.Linear(dim, dim_ff)  # U
        self.sgu = SpatialGatingUnit(dim_ff, seq_len, activation)
        self.proj_out = nn.Linear(dim_ff // 2, dim)  # V

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.gelu(self.proj_in(self.norm(x)))
        return x + self.proj_out(self.sgu(z))


@register_model
class GLAM(MfccImageInput, SERModel):
    """GLAM on ``(batch, 1, n_mfcc, n_frames)`` MFCC segments."""

    name = "glam"
    seed = "000"
    section = "§3.2, §4.3.2"
    input_spec = InputSpec(feature="mfcc", params=LIBROSA_MFCC_26, segment_s=2.0, hop_s=0.4,
                           aggregation="mean")
    config_cls = GLAMConfig
    seed_num_classes = 4

    def __init__(self, num_classes: int, config: GLAMConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        s = c.stem_channels
        self.conv_freq = nn.Sequential(nn.Conv2d(1, s, (3, 1), padding=(1, 0)), nn.BatchNorm2d(s),
                                       nn.ReLU())
        self.conv_time = nn.Sequential(nn.Conv2d(1, s, (1, 3), padding=(0, 1)), nn.BatchNorm2d(s),
                                       nn.ReLU())
        self.blocks = nn.ModuleList(MultiScaleBlock(s * 2 ** i) for i in range(c.n_blocks))
        ch = c.channels
        self.conv_out = nn.Sequential(nn.Conv2d(ch, ch, 5, padding=2), nn.BatchNorm2d(ch), nn.ReLU())
        f, t = c.map_size
        self.global_aware = GlobalAwareBlock(f * t, ch, c.ff_mult, c.gate_activation)
        self.classifier = nn.Linear(ch * f * t, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, c.n_mfcc, c.n_frames):
            raise ValueError(f"{self.name} expects (batch, 1, {c.n_mfcc}, {c.n_frames}), "
                             f"got {tuple(x.shape)}")
        x = torch.cat((self.conv_freq(x), self.conv_time(x)), dim=2)  # along frequency
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < c.n_pools:
                x = F.max_pool2d(x, 2)
        x = self.conv_out(x)
        x = self.global_aware(x.flatten(2))  # tokens = channels, features = positions
        return self.classifier(F.relu(x).flatten(1))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = [("stem", [self.conv_freq, self.conv_time])]
        groups += [(f"block{i + 1}", [b]) for i, b in enumerate(self.blocks)]
        groups += [("conv_out", [self.conv_out]), ("global_aware", [self.global_aware]),
                   ("classifier", [self.classifier])]
        return groups


@register_model
class GLAMPlus(GLAM):
    """GLAM with one more multi-scale block (seed 000 §5.3)."""

    name = "glam_plus"
    section = "§5.3"
    config_cls = GLAMPlusConfig
