"""Resizing of feature maps: seed 002's N x N bilinear images, seed 004's nearest-neighbour
time interpolation, and cropping or edge-padding the time axis to a fixed number of frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_4d(x: torch.Tensor):
    shape = x.shape
    return x.reshape((-1, 1) + shape[-2:]), shape


def resize_bilinear(x: torch.Tensor, size: int | tuple[int, int],
                    antialias: bool = True) -> torch.Tensor:
    """Resize the last two axes ``(..., H, W)`` to ``size`` (``N`` -> ``N x N``) bilinearly.

    ``antialias=True`` low-pass filters when shrinking, as PIL and torchvision's ``Resize``
    do (``F.interpolate(..., antialias=True)``); ``False`` is plain 4-neighbour bilinear.
    """
    hw = (size, size) if isinstance(size, int) else tuple(size)
    flat, shape = _as_4d(x)
    out = F.interpolate(flat, size=hw, mode="bilinear", align_corners=False, antialias=antialias)
    return out.reshape(shape[:-2] + hw)


def interpolate_time_nearest(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Nearest-neighbour resampling of the last (time) axis to ``n_frames`` (seed 004):
    output frame ``j`` is input frame ``floor(j·T_in / n_frames)``."""
    shape = x.shape
    flat = x.reshape(-1, 1, shape[-1])
    out = F.interpolate(flat, size=int(n_frames), mode="nearest")
    return out.reshape(shape[:-1] + (int(n_frames),))


def fix_frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Crop or edge-pad the last (time) axis to exactly ``n_frames`` (repeats the last frame)."""
    t = x.shape[-1]
    if t == n_frames:
        return x
    if t > n_frames:
        return x[..., :n_frames]
    idx = torch.arange(n_frames, device=x.device).clamp_(max=t - 1)
    return x.index_select(-1, idx)
