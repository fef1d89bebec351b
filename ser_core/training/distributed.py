"""Device choice, seeding and DistributedDataParallel under ``torchrun``.

Run a protocol on several GPUs (or CPU processes) with::

    torchrun --nproc_per_node 2 -m ser_core train --model glam ...

``torchrun`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; when ``WORLD_SIZE > 1``
:func:`init_distributed` joins the process group (NCCL on CUDA, gloo on CPU), each rank trains
on its own shard of every epoch's batches and gradients are averaged by DDP. Validation and
test run on every rank over the full split (identical weights → identical decisions, so early
stopping needs no extra communication); only rank 0 writes files and progress.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ser_core.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(requested: str | None = None, local_rank: int = 0) -> torch.device:
    """``None``/``"auto"`` → CUDA when present, else CPU. ``"cuda"`` without a GPU is an error."""
    req = (requested or "auto").lower()
    if req == "auto":
        req = "cuda" if torch.cuda.is_available() else "cpu"
    if req.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but no CUDA GPU is available here.")
        if req == "cuda":
            return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        return torch.device(req)
    if req != "cpu":
        raise ConfigError(f"device must be auto, cpu or cuda, not {requested!r}.")
    return torch.device("cpu")


def init_distributed(device_request: str | None = None) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_request, local)
    info = DistInfo(world, rank, local)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info, device


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA). With ``deterministic``, cuDNN picks
    deterministic kernels (``benchmark`` off); ops without a deterministic kernel still run."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
