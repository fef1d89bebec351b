"""Helpers for tests and demos: tiny, untrained but real checkpoints.

An untrained model's prediction is a real computation through the whole inference path
(decode, segments, features, normalisation, model, pooling), which is what plumbing tests
need; the numbers mean nothing about emotion. :func:`make_tiny_checkpoint` writes a
checkpoint in the training engine's format (``save_checkpoint`` + the trainer's feature
metadata) for a model built with ``create_model`` at a small configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

#: ekman7's classes as the data layer names them (``ser_core.data.EKMAN7``)
EKMAN7 = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")

#: Small configurations that keep each model's structure (and its attention probes).
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "acrnn": dict(conv_channels=(8, 8, 8, 8, 8, 8), bottleneck=32, lstm_hidden=8, fc_hidden=8),
    "glam": dict(stem_channels=4),
    "parallel_cnn_transformer": dict(conv_channels=(4, 4, 4), num_layers=1, dim_feedforward=16),
    "serct": dict(conv_channels=16, embed_dim=16, num_layers=1, num_heads=2, ffn_dim=16,
                  dense_dims=(8,)),
}


def make_tiny_checkpoint(directory: str | Path, model: str, labels: Sequence[str] = EKMAN7,
                         normalization: str | dict | None = "fitted", seed: int = 0,
                         meta_extra: dict | None = None, **config: Any) -> Path:
    """Write a checkpoint of ``model`` (``TINY_CONFIGS[model]`` + ``config``) to ``directory``.

    ``normalization="fitted"`` stores mean/std statistics of the model's features on a few
    seconds of synthetic audio, as the trainer stores training-set statistics, so that the
    inference path must apply them; ``None`` stores none; a dict is stored as given.
    """
    from ser_core import DEFAULT_SAMPLE_RATE
    from ser_core.checkpoint import CheckpointMeta, RunningMoments, featurize, save_checkpoint
    from ser_core.features.segments import segment_waveform
    from ser_core.models import create_model

    torch.manual_seed(seed)
    overrides = {**TINY_CONFIGS.get(model, {}), **config}
    net = create_model(model, len(labels), **overrides)
    spec = type(net).input_spec
    meta = CheckpointMeta.for_model(model, list(labels), spec, model_config=net.config_dict(),
                                    label_set="test", training_corpora=["synthetic"],
                                    protocol={"name": "none (untrained test model)"})
    if normalization == "fitted":
        g = torch.Generator().manual_seed(seed)
        t = torch.arange(4 * DEFAULT_SAMPLE_RATE) / DEFAULT_SAMPLE_RATE
        wave = 0.3 * torch.sin(2 * torch.pi * 180 * t) + 0.05 * torch.randn(t.shape, generator=g)
        segs = segment_waveform(wave, DEFAULT_SAMPLE_RATE, spec.segment_s or 3.0, spec.hop_s)
        moments = RunningMoments()
        moments.update(featurize(meta.feature, segs, meta.sample_rate))
        meta.normalization = moments.result()
    else:
        meta.normalization = normalization
    meta = CheckpointMeta.from_dict({**meta.to_dict(), **(meta_extra or {})})
    return save_checkpoint(directory, net, meta)
