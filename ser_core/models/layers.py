"""Layers shared by several models of the zoo.

Everything that computes an attention distribution passes it through an
:class:`~ser_core.models.base.AttentionProbe` so that
:func:`~ser_core.models.base.capture_attention` can read it (the one mechanism of the zoo).

* :class:`AttentionPooling` – soft attention over time, ``alpha_t = softmax_t(w . h_t)``,
  ``c = sum_t alpha_t h_t`` (ACRNN, seed 000 §3.1.2.5 eqs. 12-13).
* :class:`MultiHeadSelfAttention` – scaled dot-product self-attention with the parameter
  layout of ``torch.nn.MultiheadAttention`` (one packed in-projection ``(3d, d)`` with bias,
  an out-projection ``(d, d)`` with bias), so parameter counts match torch's module.
* :class:`TransformerEncoderLayer` – post-norm encoder layer equivalent to
  ``torch.nn.TransformerEncoderLayer(norm_first=False)``, whose attention weights go through
  a probe (torch's layer never returns them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ser_core.models.base import AttentionProbe, capture_outputs


class AttentionPooling(nn.Module):
    """Soft attention pooling over time.

    Input ``h`` of shape ``(batch, time, features)``; output ``c`` of shape
    ``(batch, features)``. The weights ``alpha`` ``(batch, time)`` pass through ``self.probe``
    (axis ``"time"``, they sum to one over ``dim=-1``). ``score`` is a bias-free linear map
    ``w . h_t`` (a bias would cancel in the softmax).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.score = nn.Linear(features, 1, bias=False)
        self.probe = AttentionProbe(axis="time", dim=-1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        alpha = torch.softmax(self.score(h).squeeze(-1), dim=-1)
        alpha = self.probe(alpha)
        return torch.einsum("bt,btf->bf", alpha, h)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameters.

    Input and output ``(batch, seq, d_model)``. The attention weights, shape
    ``(batch, heads, queries, keys)``, pass through ``self.probe`` (axis ``"keys"``,
    ``dim=-1``) before dropout; every head is kept (average over dim 1 for a single map).
    Parameters: ``in_proj_weight (3d, d)``, ``in_proj_bias (3d)``, ``out_proj`` Linear(d, d):
    ``4 d^2 + 4 d`` in total.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by {num_heads} heads")
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.probe = AttentionProbe(axis="keys", dim=-1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # as nn.MultiheadAttention: xavier-uniform in-projection, zero biases
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, seq, head_dim)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        weights = self.probe(torch.softmax(scores, dim=-1))
        out = self.attn_dropout(weights) @ v  # (batch, heads, seq, head_dim)
        out = out.transpose(1, 2).reshape(b, n, self.d_model)
        return self.out_proj(out)


class TransformerEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer (Vaswani et al. 2017), batch-first.

    ``x = norm1(x + drop(attn(x)))``; ``x = norm2(x + drop(W2 drop(act(W1 x))))`` – the same
    computation and parameters as ``nn.TransformerEncoderLayer(d_model, nhead,
    dim_feedforward, dropout, activation)`` with ``norm_first=False``; the self-attention
    weights are visible through ``self_attn.probe``.
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int,
                 dropout: float = 0.1, activation: str = "relu") -> None:
        super().__init__()
        self.self_attn = MultiHeadSelfAttention(d_model, num_heads, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        acts = {"relu": F.relu, "gelu": F.gelu}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, not {activation!r}")
        self.activation = acts[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(self.self_attn(x)))
        ff = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.norm2(x + self.dropout2(ff))


# -- attention windows (appended for SERCT's deformable speech attention) ---------------------

class WindowProbe(nn.Identity):
    """Identity marker for *attention windows* (the second probe kind of the zoo).

    Deformable attention (SERCT / DST, seed 001 §4.4.3 eq. 7) lets every query attend only to a
    window ``[L, R]`` of keys. A model passes the predicted windows through a ``WindowProbe``
    as a tensor of shape ``(batch, heads, queries, 2)``: ``[..., 0] = L`` and ``[..., 1] = R``,
    real-valued key positions (in frames) with ``0 <= L <= R <= keys - 1``. Keys ``k`` with
    ``L <= k <= R`` are inside; a key less than one frame outside an edge is partly inside
    (weight ``1 - distance``); every other key gets exactly zero attention (see
    :class:`ser_core.models.serct.DeformableSelfAttention`).

    Windows are not distributions, so they are kept apart from :class:`AttentionProbe` (whose
    tensors sum to one): read them with :func:`capture_windows`.
    """


def capture_windows(model: nn.Module):
    """Collect every window tensor that passes a :class:`WindowProbe` during a forward.

    Usage (same shape of result as ``capture_attention``; a probe called several times in one
    forward stores a list)::

        with capture_windows(model) as windows, capture_attention(model) as maps:
            model(x)
        windows["encoder.0.attention.window_probe"]  # (batch, heads, queries, 2)
    """
    return capture_outputs(model, WindowProbe)
