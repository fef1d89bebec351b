"""BulbaNET, CharmaNET, SquirtleNET: 2-D CNNs on NxN spectral images (seed 002).

Skoulidis et al., "Emotion Recognition in English and Greek Speech: Deep CNN with 2D Spectral
Features and Transfer Learning" (thesis [9] of the seed). No public code is cited.

Input: ``(batch, 1, N, N)`` dB-scaled spectral image (feature kind ``"spectral_image"``,
``params`` ``{"source": "mel", "size": 60}``): pre-emphasis, zeros trimmed at both ends,
mel spectrogram, amplitude to dB, bilinear resize of the whole clip to NxN (Fig. 1).
``segment_s=None``: the seed turns each whole (trimmed) clip into one image, the bilinear
resize absorbing its length, so there is nothing to segment or aggregate; cutting 3 s
pieces would change what an image means (a fixed time scale instead of the whole
utterance) and break comparability with the seed's numbers.

Layer patterns (Fig. 2; every convolution stride 1, padding 1; logits out, the softmax of
the last layer is the loss's):
    SquirtleNET  conv1-ReLU-BN-MaxPool | conv2-ReLU-AvgPool | conv3-ReLU-AvgPool | flatten |
                 FC1-ReLU-Dropout | FC2-ReLU | FC3
    CharmaNET    conv1-LeakyReLU-BN-MaxPool | conv2-LeakyReLU-MaxPool |
                 conv3-LeakyReLU-AvgPool | flatten | FC1-ReLU-Dropout | FC2-ReLU | FC3
    BulbaNET     conv1-ReLU-AvgPool | conv2-ReLU-AvgPool | conv3-ReLU-AvgPool | flatten |
                 FC1-BN | FC2-ReLU | FC3   (FC1 has no activation in Fig. 2; BN is 1-D)

Defaults:
    * SquirtleNET = Table 4 (the optimum): mel 60x60, conv channels 188/156/340, kernels 3,
      pool kernels 2/3/3, pool strides 2, BN momentum 0.4 (PyTorch's convention, which the
      seed used), dropout 0.40, FC 3634/2816/classes. 55,483,737 parameters with 7 classes.
    * CharmaNET = Table 2's vector 011, the best CharmaNET score of the seed (macro-F1 64.03):
      channels 212/148/356, kernels 3, pool kernels 2/3/3, strides 2, BN momentum 0.2,
      dropout 0.45, FC 3840/2858, Leaky ReLU slope 0.01 (the fixed default). Table 2 prints
      its NxN row as two merged cells (80x80, 60x60) whose spans the text does not recover;
      we take 60x60, the seed's recommended size, so SquirtleNET and CharmaNET share one
      feature configuration (``image_size=80`` for the other reading).
    * BulbaNET: the seed gives no tuned values (it "did not meet expectations"); it takes
      Table 4's shared values (channels, kernels, pool kernels and strides, BN momentum, FC
      widths) and has no dropout (Fig. 2 has none).

Layer groups (input -> output, classifier last) are the seven parameterised layers; for
SquirtleNET and CharmaNET ``conv1, bn1, conv2, conv3, fc1, fc2, classifier``; for BulbaNET
``conv1, conv2, conv3, fc1, bn1, fc2, classifier``.

Transfer learning, seed 002's freeze subsets (a)-(g) (its table, columns "Conv. 1,
Batch-Normalization, Conv. 2, Conv. 3, Fully-Connected, Dropout"): (a) freezes all six
columns, (b) the first five, ... (f) only Conv. 1, (g) nothing; the last FC layer is always
replaced by a fresh one (:meth:`SpectralCNN.reset_classifier`, 5 classes for AESDD) and
trained. The "Dropout" column can only mean the layer after the dropout, FC2: dropout has no
parameters, yet (a) and (b) give different accuracies (38.94 % vs 48.88 %), so (a) must
freeze one more layer than (b). Hence :data:`FREEZE_SUBSETS` (letter -> frozen groups) and
:func:`apply_freeze_subset`. Freezing a BN layer's parameters does not stop its running
statistics from updating in train mode (the seed does not say whether it did); a trainer that
wants them fixed must keep that layer in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ser_core.models.base import InputSpec, SERModel, set_trainable_groups
from ser_core.models.registry import register_model

#: seed 002's freeze subsets: letter -> layer groups frozen (SquirtleNET / CharmaNET names)
FREEZE_SUBSETS: dict[str, tuple[str, ...]] = {
    "a": ("conv1", "bn1", "conv2", "conv3", "fc1", "fc2"),
    "b": ("conv1", "bn1", "conv2", "conv3", "fc1"),
    "c": ("conv1", "bn1", "conv2", "conv3"),
    "d": ("conv1", "bn1", "conv2"),
    "e": ("conv1", "bn1"),
    "f": ("conv1",),
    "g": (),
}


def frozen_groups(model: "SpectralCNN", subset: str) -> list[str]:
    """The groups subset ``subset`` freezes in ``model``: its first ``len(FREEZE_SUBSETS[s])``.

    For SquirtleNET and CharmaNET these are exactly ``FREEZE_SUBSETS[subset]``; BulbaNET,
    whose BN follows FC1, freezes its first layers in its own order.
    """
    key = subset.strip("()").lower()
    if key not in FREEZE_SUBSETS:
        raise ValueError(f"freeze subset must be one of (a)-(g), not {subset!r}")
    names = [n for n, _ in model.layer_groups()]
    return names[: len(FREEZE_SUBSETS[key])]


def apply_freeze_subset(model: "SpectralCNN", subset: str) -> list[str]:
    """Freeze the groups of seed 002's subset ``subset`` ('a'..'g'); the rest train.

    Returns the names of the trainable groups (always including ``classifier``).
    """
    frozen = set(frozen_groups(model, subset))
    trainable = [n for n, _ in model.layer_groups() if n not in frozen]
    set_trainable_groups(model, trainable)
    return trainable


def _conv_out(n: int, kernel: int, padding: int, stride: int = 1) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def _pool_out(n: int, kernel: int, stride: int) -> int:
    return (n - kernel) // stride + 1


@dataclass(frozen=True)
class SquirtleNETConfig:
    """SquirtleNET hyper-parameters; defaults are seed 002 Table 4."""

    image_size: int = 60
    in_channels: int = 1
    conv_channels: tuple[int, ...] = (188, 156, 340)
    conv_kernels: tuple[int, ...] = (3, 3, 3)
    conv_stride: int = 1
    conv_padding: int = 1
    pool_kernels: tuple[int, ...] = (2, 3, 3)
    pool_strides: tuple[int, ...] = (2, 2, 2)
    bn_momentum: float = 0.4
    dropout: float = 0.40
    fc_dims: tuple[int, int] = (3634, 2816)
    leaky_slope: float = 0.01

    def __post_init__(self) -> None:
        for name in ("conv_channels", "conv_kernels", "pool_kernels", "pool_strides", "fc_dims"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("conv_channels", "conv_kernels", "pool_kernels", "pool_strides"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name} needs three values (three conv layers)")
        if len(self.fc_dims) != 2:
            raise ValueError("fc_dims needs two values (FC1, FC2; FC3 is the classifier)")
        if self.flat_size() < 1:
            raise ValueError(f"image_size {self.image_size} is too small for these layers")

    def spatial_sizes(self) -> list[int]:
        """Side of the feature map after each conv + pool stage."""
        n, sizes = self.image_size, []
        for k, pk, ps in zip(self.conv_kernels, self.pool_kernels, self.pool_strides):
            n = _conv_out(n, k, self.conv_padding, self.conv_stride)
            n = _pool_out(n, pk, ps) if n >= pk else 0
            sizes.append(n)
        return sizes

    def flat_size(self) -> int:
        side = self.spatial_sizes()[-1]
        return self.conv_channels[-1] * side * side


@dataclass(frozen=True)
class CharmaNETConfig(SquirtleNETConfig):
    """CharmaNET hyper-parameters; defaults are seed 002 Table 2, vector 011."""

    conv_channels: tuple[int, ...] = (212, 148, 356)
    bn_momentum: float = 0.2
    dropout: float = 0.45
    fc_dims: tuple[int, int] = (3840, 2858)


@dataclass(frozen=True)
class BulbaNETConfig(SquirtleNETConfig):
    """BulbaNET hyper-parameters: no tuned values in the seed, Table 4's shared ones.

    ``dropout`` and ``leaky_slope`` are unused (Fig. 2's BulbaNET has no dropout and ReLU only).
    """

    dropout: float = 0.0


class SpectralCNN(SERModel):
    """Three conv + three FC layers in the pattern of ``pattern`` (seed 002 Fig. 2).

    ``forward(x)`` with ``x`` ``(batch, 1, N, N)`` (or ``(batch, N, N)``) -> logits.
    """

    seed = "002"
    input_spec = InputSpec(feature="spectral_image", params={"source": "mel", "size": 60},
                           segment_s=None, hop_s=None, aggregation="mean")
    seed_num_classes = 7
    #: per conv stage: (activation, batch norm after conv1?, pooling kind)
    conv_act: str = "relu"
    pools: tuple[str, str, str] = ("max", "avg", "avg")
    conv_bn: bool = True  # BN after the first convolution (Squirtle, Charma)

    def __init__(self, num_classes: int, config: SquirtleNETConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        in_ch = c.in_channels
        self.convs = nn.ModuleList()
        self.pool_layers = nn.ModuleList()
        for out_ch, k, pk, ps, kind in zip(c.conv_channels, c.conv_kernels, c.pool_kernels,
                                           c.pool_strides, self.pools):
            self.convs.append(nn.Conv2d(in_ch, out_ch, k, stride=c.conv_stride,
                                        padding=c.conv_padding))
            pool = nn.MaxPool2d(pk, ps) if kind == "max" else nn.AvgPool2d(pk, ps)
            self.pool_layers.append(pool)
            in_ch = out_ch
        if self.conv_bn:
            self.bn1 = nn.BatchNorm2d(c.conv_channels[0], momentum=c.bn_momentum)
        self.fc1 = nn.Linear(c.flat_size(), c.fc_dims[0])
        if not self.conv_bn:
            self.bn1 = nn.BatchNorm1d(c.fc_dims[0], momentum=c.bn_momentum)
        self.dropout = nn.Dropout(c.dropout)
        self.fc2 = nn.Linear(c.fc_dims[0], c.fc_dims[1])
        self.classifier = nn.Linear(c.fc_dims[1], num_classes)

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_act == "leaky_relu":
            return nn.functional.leaky_relu(x, self.config.leaky_slope)
        return torch.relu(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1:] != (c.in_channels, c.image_size, c.image_size):
            raise ValueError(f"{self.name} expects (batch, {c.in_channels}, {c.image_size}, "
                             f"{c.image_size}), got {tuple(x.shape)}")
        for i, (conv, pool) in enumerate(zip(self.convs, self.pool_layers)):
            x = self._act(conv(x))
            if i == 0 and self.conv_bn:
                x = self.bn1(x)
            x = pool(x)
        x = self.fc1(x.flatten(1))
        if self.conv_bn:  # Squirtle / Charma: FC1-ReLU-Dropout
            x = self.dropout(torch.relu(x))
        else:  # Bulba: FC1-BN
            x = self.bn1(x)
        x = torch.relu(self.fc2(x))
        return self.classifier(x)

    def example_input(self, batch_size: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random image batch ``(batch, 1, N, N)`` in a dB-like range, for tests."""
        n = self.config.image_size
        return -40.0 + 10.0 * torch.randn(batch_size, self.config.in_channels, n, n,
                                           generator=generator)

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        conv1, conv2, conv3 = self.convs
        if self.conv_bn:
            order = [("conv1", conv1), ("bn1", self.bn1), ("conv2", conv2), ("conv3", conv3),
                     ("fc1", self.fc1), ("fc2", self.fc2)]
        else:
            order = [("conv1", conv1), ("conv2", conv2), ("conv3", conv3), ("fc1", self.fc1),
                     ("bn1", self.bn1), ("fc2", self.fc2)]
        return [(n, [m]) for n, m in order] + [("classifier", [self.classifier])]


@register_model
class SquirtleNET(SpectralCNN):
    """SquirtleNET: conv-ReLU-BN-MaxPool, conv-ReLU-AvgPool x2, FC-ReLU-Dropout, FC-ReLU, FC."""

    name = "squirtlenet"
    section = "Fig. 2, Table 4"
    config_cls = SquirtleNETConfig
    conv_act = "relu"
    pools = ("max", "avg", "avg")
    conv_bn = True


@register_model
class CharmaNET(SpectralCNN):
    """CharmaNET: conv-LReLU-BN-MaxPool, conv-LReLU-MaxPool, conv-LReLU-AvgPool, FC x3."""

    name = "charmanet"
    section = "Fig. 2, Table 2 (vector 011)"
    config_cls = CharmaNETConfig
    conv_act = "leaky_relu"
    pools = ("max", "max", "avg")
    conv_bn = True


@register_model
class BulbaNET(SpectralCNN):
    """BulbaNET: conv-ReLU-AvgPool x3, FC-BN, FC-ReLU, FC."""

    name = "bulbanet"
    section = "Fig. 2"
    config_cls = BulbaNETConfig
    conv_act = "relu"
    pools = ("avg", "avg", "avg")
    conv_bn = False
