"""SERCT: end-to-end CNN-Transformer on the raw waveform (seed 001 §4, §5.3, §6.4).

Zheng (2024), Groningen master's thesis; public code ``0105zhengsiqi/SERCT``; its
transformer is the Deformable Speech Transformer of Chen et al. (ICASSP 2023, public code
``HappyColor/DST``).

Input: waveform ``(batch, time)`` (or ``(batch, 1, time)``) at 16 kHz, one 3 s segment
(48,000 samples, zero-padded), feature kind ``"waveform"`` with its defaults (no z-score, no
pre-emphasis: the seed feeds the samples as ``librosa.load`` returns them, §4.2); the
utterance posterior is the mean over its 3 s segments (the seed truncates to the first 3 s).

Architecture as the seed states it:
    * CNN module (§4.3, §5.3): six 1-D convolutions, 512 filters each, no bias, no dropout,
      each followed by layer normalisation and GELU (wav2vec 2.0 feature-encoder style).
    * A randomly initialised linear projection 512 -> 1024 between the modules (§5.3).
    * Transformer module (§4.4, §5.3): embedding 1024, 4 layers, 8 heads, feed-forward 512,
      dropout 0.1, no bias, ReLU; multi-head attention replaced by Deformable Speech
      Attention (DSA, eqs. 7-8): query ``j`` of head ``i`` attends only to keys
      ``L_ij .. R_ij``, a window whose position and size a decision network predicts.
    * Dense layers applied to every frame, average pooling over time, softmax (§4.1).

Choices where the seed is silent (following the public SERCT / DST code unless stated):
    * Kernels (10, 3, 3, 3, 2, 2), strides (5, 2, 2, 2, 2, 2): wav2vec 2.0's feature encoder
      with one of its five kernel-3 layers left out, so that there are six layers, the first
      "10" wide and the last "2x2" as §4.3.1 names them. 10 ms hop at 16 kHz (stride 160),
      receptive field 200 samples; 48,000 samples -> 299 frames. (The public code has seven
      layers, wav2vec 2.0's (10, 3, 3, 3, 3, 2, 2) plus padding; the thesis text says six.)
    * Each convolution: conv -> LayerNorm over channels -> GELU (wav2vec 2.0's "layer_norm"
      mode, §5.3 names both); Kaiming-normal init. Then LayerNorm(512) -> Linear(512, 1024)
      (with bias) as in the public ``CNNTransformer``.
    * Transformer input: LayerNorm(1024) + fixed sinusoidal positions; post-norm blocks
      ``x = LN(x + drop(DSA(x)))``, ``x = LN(x + drop(W2 drop(ReLU(W1 x))))``; Xavier init
      (DST ``reset_parameters``).
    * "No bias" is read as DST's ``bias`` argument, which the seed's list of settings mirrors:
      the attention's packed q/k/v projection and its output projection have no bias; the
      feed-forward layers, layer norms and the decision network keep theirs. (The public
      training script passes ``bias=True``; we follow the thesis text.)
    * Decision network (DST): one linear layer on the projected queries giving, per head, an
      offset ``o`` and a size ``s``; initialised to zero offset and window lengths spread
      from 50 ms to 1 s over the heads (DST's ``duration=[50, 1000]`` ms).
    * Dense head: 1024 -> 512 -> 256 (ReLU, dropout 0.1) -> classes, on every frame, then the
      average over frames (DST's classifier + ``AdaptiveAvgPool1d``).

Differentiable DSA (our formulation; eq. 7 slices ``K[L:R]`` with integer bounds, which has
no gradient with respect to the window):
    centre  ``c = j + tanh(o) * (T - 1 - j if o > 0 else j)``  (always inside ``[0, T-1]``)
    half    ``w = sigmoid(s) * T``
    window  ``L = clamp(c - w, 0, T-1)``, ``R = clamp(c + w, 0, T-1)``
    membership of key ``k``: ``m_k = clamp(1 + min(k - L, R - k), 0, 1)``, i.e. 1 inside
    ``[L, R]``, falling linearly to 0 one frame outside each edge, 0 beyond;
    ``a_jk = m_k exp(q_j.k_k / sqrt(d)) / sum_k' m_k' exp(q_j.k_k' / sqrt(d))``.
  For integer ``L, R`` this is exactly eq. 7's softmax over ``K[L..R]`` (inclusive, as the
  DST code masks); for real-valued ones the boundary keys get fractional weight, so the
  output is continuous and piecewise differentiable in ``L`` and ``R`` (hence in ``o`` and
  ``s``) and keys outside ``(L-1, R+1)`` get exactly zero attention. DST itself keeps a hard
  mask and lets gradients reach the window through a multiplicative "point weight" on the
  logits of the boundary and anchor keys (``1 + fractional distance``); ours has the same
  linear-interpolation spirit but acts as a proper soft mask. DST's anchor
  ``j + tanh(o) * T`` can leave the sequence; our centre is scaled to stay inside it, so the
  window always holds at least the key nearest its centre. DST scales offsets and sizes by
  the fixed training length; we use the actual number of frames ``T`` (299 for 3 s), so
  shorter inputs (tests) get proportionally smaller windows.

Deviations from the seed:
    * 16 kHz model rate: a 3 s segment is 48,000 samples, not the seed's 144,000 (3 s at
      48 kHz, §4.2); the network is length-agnostic (299 frames instead of ~900).
    * Logits out; the softmax belongs to the loss.

Ablations (seed 001 Table 5), registered as separate names:
    * ``serct_vanilla``: plain multi-head self-attention instead of DSA ("W/ transformer
      (Vanilla) module"), everything else equal.
    * ``serct_cnn``: CNN module + projection + dense head + pooling, no transformer ("W/o
      transformer (DST) module"). Note: the seed's Table 5 numbers for that row equal its
      Table 3 CNN-baseline row digit for digit, so the thesis probably reported the
      ``cnn`` baseline (:mod:`ser_core.models.baselines`) there.
    * ``serct_nocnn``: no CNN module ("W/o CNN module"): the waveform is cut into
      non-overlapping 160-sample frames (the CNN's hop), layer-normalised and projected to
      1024, then the DST as in ``serct``. The seed does not say how it fed the waveform to
      the transformer; this is our choice.

Exposed for the Explain page:
    * attention maps through ``encoder.{i}.attention.probe`` (one :class:`AttentionProbe`
      per layer, ``(batch, heads, queries, keys)``, summing to one over keys, before dropout),
      read with :func:`~ser_core.models.base.capture_attention`;
    * DSA windows through ``encoder.{i}.attention.window_probe`` (a
      :class:`~ser_core.models.layers.WindowProbe`, ``(batch, heads, queries, 2)`` = ``[L, R]``
      in frames), read with :func:`~ser_core.models.layers.capture_windows`. Frame ``t``
      covers samples ``[160 t, 160 t + 200)`` (see :meth:`SERCT.frame_times`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.models.base import AttentionProbe, InputSpec, SERModel
from ser_core.models.layers import WindowProbe
from ser_core.models.registry import register_model

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


@dataclass(frozen=True)
class SERCTConfig:
    """SERCT hyper-parameters; defaults are seed 001 §4 / §5.3's values (see module docstring)."""

    sample_rate: int = 16000
    #: samples in one training segment (3 s at 16 kHz); sets the initial window sizes only
    segment_samples: int = 48000
    use_cnn: bool = True
    conv_channels: int = 512
    conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 2, 2)
    conv_strides: tuple[int, ...] = (5, 2, 2, 2, 2, 2)
    #: frame length in samples when ``use_cnn`` is False (the "without CNN" ablation)
    frame_samples: int = 160
    embed_dim: int = 1024
    use_transformer: bool = True
    #: ``"deformable"`` (DSA, eqs. 7-8) or ``"vanilla"`` (eqs. 4-6)
    attention: str = "deformable"
    num_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 512
    dropout: float = 0.1
    attention_bias: bool = False
    activation: str = "relu"
    #: initial DSA window lengths in ms, spread linearly over the heads (DST: 50 .. 1000 ms)
    window_init_ms: tuple[float, float] = (50.0, 1000.0)
    dense_dims: tuple[int, ...] = (512, 256)

    def __post_init__(self) -> None:
        for name in ("conv_kernels", "conv_strides", "dense_dims"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(self, "window_init_ms", tuple(float(v) for v in self.window_init_ms))
        if len(self.conv_kernels) != len(self.conv_strides) or not self.conv_kernels:
            raise ValueError("conv_kernels and conv_strides must be non-empty and of equal length")
        if self.attention not in ("deformable", "vanilla"):
            raise ValueError(f"attention must be 'deformable' or 'vanilla', not {self.attention!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by {self.num_heads} heads")
        if len(self.window_init_ms) != 2 or not 0 < self.window_init_ms[0] <= self.window_init_ms[1]:
            raise ValueError("window_init_ms must be (min, max) with 0 < min <= max")

    @property
    def hop_samples(self) -> int:
        """Samples between consecutive frames (160 = 10 ms at 16 kHz)."""
        return math.prod(self.conv_strides) if self.use_cnn else self.frame_samples

    @property
    def receptive_field(self) -> int:
        """Samples one frame sees (200 for the default CNN)."""
        if not self.use_cnn:
            return self.frame_samples
        rf, jump = 1, 1
        for k, s in zip(self.conv_kernels, self.conv_strides):
            rf += (k - 1) * jump
            jump *= s
        return rf

    def num_frames(self, samples: int) -> int:
        """Frames the front end makes of ``samples`` samples (0 if too short)."""
        if not self.use_cnn:
            return samples // self.frame_samples
        n = samples
        for k, s in zip(self.conv_kernels, self.conv_strides):
            if n < k:
                return 0
            n = (n - k) // s + 1
        return n


# -- building blocks ------------------------------------------------------------------------


class ConvFeatureEncoder(nn.Module):
    """Six bias-free 1-D convolutions, each conv -> LayerNorm(channels) -> GELU.

    ``(batch, time)`` waveform -> ``(batch, frames, channels)``.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...], strides: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        in_ch = 1
        for k, s in zip(kernels, strides):
            conv = nn.Conv1d(in_ch, channels, k, stride=s, bias=False)
            nn.init.kaiming_normal_(conv.weight)
            self.convs.append(conv)
            self.norms.append(nn.LayerNorm(channels))
            in_ch = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            x = F.gelu(norm(x.transpose(1, 2)).transpose(1, 2))
        return x.transpose(1, 2)


def sinusoidal_positions(length: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """``(length, dim)``: sin on even, cos on odd channels, ``pos / 10000^(2 floor(j/2) / dim)``."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    j = torch.arange(dim, device=device, dtype=torch.float32)[None, :]
    angle = pos / torch.pow(10000.0, 2.0 * torch.div(j, 2, rounding_mode="floor") / dim)
    pe = torch.where(j.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return pe.to(dtype) if dtype is not None else pe


def window_membership(left: torch.Tensor, right: torch.Tensor, num_keys: int) -> torch.Tensor:
    """Soft window mask ``m`` of shape ``left.shape + (num_keys,)``.

    ``m_k = clamp(1 + min(k - L, R - k), 0, 1)``: 1 for ``L <= k <= R``, linear down to 0 one
    key outside each edge, 0 beyond. Differentiable in ``L`` and ``R`` wherever a key lies in
    a ramp.
    """
    keys = torch.arange(num_keys, device=left.device, dtype=left.dtype)
    inside = torch.minimum(keys - left.unsqueeze(-1), right.unsqueeze(-1) - keys)
    return (1.0 + inside).clamp(0.0, 1.0)


class DeformableSelfAttention(nn.Module):
    """Multi-head self-attention, deformable (DSA, seed 001 eqs. 7-8) or vanilla (eqs. 4-6).

    Input and output ``(batch, seq, d_model)``. Probes: ``probe`` sees the attention weights
    ``(batch, heads, queries, keys)`` (sum to one over keys, before dropout);
    ``window_probe`` sees the windows ``(batch, heads, queries, 2)`` = ``[L, R]`` (DSA only).
    See the module docstring for the window formulation.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = False,
                 deformable: bool = True, init_half_fractions: tuple[float, float] = (0.01, 0.1)) -> None:
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.deformable = deformable
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.probe = AttentionProbe(axis="keys", dim=-1)
        if deformable:
            # decision network: per head an offset and a size, from the projected queries
            self.decision = nn.Linear(d_model, 2 * num_heads)
            self.window_probe = WindowProbe()
            self._init_half = init_half_fractions
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        for lin in (self.qkv, self.out_proj):
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        if self.deformable:
            # DST's _reset_specially: zero weights, zero offsets, sizes spread over the heads
            lo, hi = self._init_half
            half = torch.linspace(lo, hi, self.num_heads).clamp(1e-4, 1 - 1e-4)
            with torch.no_grad():
                self.decision.weight.zero_()
                self.decision.bias[: self.num_heads] = 0.0
                self.decision.bias[self.num_heads:] = torch.log(half / (1 - half))

    def windows(self, q: torch.Tensor) -> torch.Tensor:
        """Predicted ``[L, R]`` per query and head: ``(batch, heads, seq, 2)`` (float32)."""
        b, n, _ = q.shape
        offset, size = self.decision(q).float().chunk(2, dim=-1)  # (b, n, heads) each
        t = torch.tanh(offset)
        j = torch.arange(n, device=q.device, dtype=torch.float32)[None, :, None]
        reach = torch.where(t > 0, (n - 1) - j, j)
        centre = j + t * reach
        half = torch.sigmoid(size) * n
        left = (centre - half).clamp(0.0, n - 1)
        right = (centre + half).clamp(0.0, n - 1)
        return torch.stack((left, right), dim=-1).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q_all, k_all, v_all = self.qkv(x).chunk(3, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(q_all), heads(k_all), heads(v_all)
        scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(self.head_dim)
        if self.deformable:
            win = self.window_probe(self.windows(q_all))
            member = window_membership(win[..., 0], win[..., 1], n)  # (b, h, n, n)
            log_member = torch.where(member > 0, torch.log(member.clamp_min(1e-12)),
                                     torch.full_like(member, float("-inf")))
            scores = scores + log_member
        weights = self.probe(torch.softmax(scores, dim=-1).to(v.dtype))
        out = self.attn_dropout(weights) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.d_model))


class DSTLayer(nn.Module):
    """Post-norm transformer block whose attention is :class:`DeformableSelfAttention`."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, bias: bool,
                 activation: str, deformable: bool, init_half_fractions: tuple[float, float]) -> None:
        super().__init__()
        self.attention = DeformableSelfAttention(d_model, num_heads, dropout, bias, deformable,
                                                 init_half_fractions)
        self.attention_norm = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d_model)
        self.final_norm = nn.LayerNorm(d_model)
        self.act = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        for lin in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(lin.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.dropout(self.attention(x)))
        ff = self.fc2(self.dropout(self.act(self.fc1(x))))
        return self.final_norm(x + self.dropout(ff))


# -- the models -----------------------------------------------------------------------------


@register_model
class SERCT(SERModel):
    """CNN-Transformer with deformable speech attention; ``forward(x)``, ``x`` ``(batch, time)``."""

    name = "serct"
    seed = "001"
    section = "§4, §5.3"
    input_spec = InputSpec(feature="waveform", params={}, segment_s=3.0, hop_s=None,
                           aggregation="mean")
    config_cls = SERCTConfig
    seed_num_classes = 7

    def __init__(self, num_classes: int, config: SERCTConfig) -> None:
        super().__init__(num_classes, config)
        c = config
        if c.use_cnn:
            self.cnn = ConvFeatureEncoder(c.conv_channels, c.conv_kernels, c.conv_strides)
            front_dim = c.conv_channels
        else:
            front_dim = c.frame_samples
        self.front_norm = nn.LayerNorm(front_dim)
        self.projection = nn.Linear(front_dim, c.embed_dim)
        if c.use_transformer:
            ref_frames = max(1, c.num_frames(c.segment_samples))
            frame_ms = 1000.0 * c.hop_samples / c.sample_rate
            # DST: initial half-window = duration / 2, as a fraction of the sequence length
            init = tuple(min(0.999, ms / 2 / frame_ms / ref_frames) for ms in c.window_init_ms)
            self.input_norm = nn.LayerNorm(c.embed_dim)
            self.encoder = nn.ModuleList(
                DSTLayer(c.embed_dim, c.num_heads, c.ffn_dim, c.dropout, c.attention_bias,
                         c.activation, c.attention == "deformable", init)
                for _ in range(c.num_layers))
        dense: list[nn.Module] = []
        width = c.embed_dim
        for d in c.dense_dims:
            lin = nn.Linear(width, d)
            nn.init.xavier_uniform_(lin.weight)
            dense += [lin, _ACTIVATIONS[c.activation](), nn.Dropout(c.dropout)]
            width = d
        self.dense = nn.Sequential(*dense)
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        width = self.config.dense_dims[-1] if self.config.dense_dims else self.config.embed_dim
        lin = nn.Linear(width, num_classes)
        nn.init.xavier_uniform_(lin.weight)
        return lin

    # -- forward --------------------------------------------------------------------------
    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """Front end: waveform ``(batch, time)`` -> projected frames ``(batch, T, embed_dim)``."""
        c = self.config
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() != 2:
            raise ValueError(f"{self.name} expects a waveform (batch, time), got {tuple(x.shape)}")
        if c.num_frames(x.shape[-1]) < 1:
            raise ValueError(f"{self.name} needs at least {c.receptive_field} samples, "
                             f"got {x.shape[-1]}")
        if c.use_cnn:
            h = self.cnn(x)
        else:
            t = x.shape[-1] // c.frame_samples
            h = x[:, : t * c.frame_samples].reshape(x.shape[0], t, c.frame_samples)
        return self.projection(self.front_norm(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frames(x)
        if self.config.use_transformer:
            h = self.input_norm(h)
            h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device, h.dtype)
            for layer in self.encoder:
                h = layer(h)
        per_frame = self.classifier(self.dense(h))  # (batch, T, classes)
        return per_frame.mean(dim=1)  # average pooling over time

    def frame_times(self, num_frames: int) -> torch.Tensor:
        """Start time in seconds of each frame (for drawing maps and windows over a clip)."""
        c = self.config
        return torch.arange(num_frames, dtype=torch.float32) * c.hop_samples / c.sample_rate

    def example_input(self, batch_size: int = 2, seconds: float = 0.5,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """A random waveform batch ``(batch, seconds * sample_rate)`` for tests."""
        n = int(round(seconds * self.config.sample_rate))
        return 0.1 * torch.randn(batch_size, n, generator=generator)

    # -- groups ---------------------------------------------------------------------------
    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        c = self.config
        groups: list[tuple[str, list[nn.Module]]] = []
        if c.use_cnn:
            groups += [(f"conv{i + 1}", [conv, norm])
                       for i, (conv, norm) in enumerate(zip(self.cnn.convs, self.cnn.norms))]
        front = [self.front_norm, self.projection]
        if c.use_transformer:
            front.append(self.input_norm)
        groups.append(("projection", front))
        if c.use_transformer:
            groups += [(f"layer{i + 1}", [layer]) for i, layer in enumerate(self.encoder)]
        if len(self.dense):
            groups.append(("dense", [self.dense]))
        groups.append(("classifier", [self.classifier]))
        return groups


@dataclass(frozen=True)
class SERCTVanillaConfig(SERCTConfig):
    """``serct`` with plain multi-head self-attention (seed 001 Table 5, "W/ Vanilla")."""

    attention: str = "vanilla"


@register_model
class SERCTVanilla(SERCT):
    """SERCT ablation: vanilla multi-head self-attention instead of DSA."""

    name = "serct_vanilla"
    section = "§6.4 (Table 5)"
    config_cls = SERCTVanillaConfig


@dataclass(frozen=True)
class SERCTCNNConfig(SERCTConfig):
    """``serct`` without the transformer module (seed 001 Table 5, "W/o transformer")."""

    use_transformer: bool = False


@register_model
class SERCTCNN(SERCT):
    """SERCT ablation: CNN module, projection, dense head and pooling only."""

    name = "serct_cnn"
    section = "§6.4 (Table 5)"
    config_cls = SERCTCNNConfig


@dataclass(frozen=True)
class SERCTNoCNNConfig(SERCTConfig):
    """``serct`` without the CNN module (seed 001 Table 5, "W/o CNN"): 160-sample frames."""

    use_cnn: bool = False


@register_model
class SERCTNoCNN(SERCT):
    """SERCT ablation: the waveform cut into 10 ms frames, projected, then the DST."""

    name = "serct_nocnn"
    section = "§6.4 (Table 5)"
    config_cls = SERCTNoCNNConfig
