"""Shared helpers for the training tests: synthetic labelled clips in a SegmentBank."""

from __future__ import annotations

import math

import pytest
import torch

from ser_core.models import model_class
from ser_core.training.datasets import SegmentBank
from ser_core.training.progress import Progress
from ser_core.training.recipes import recipe_for
from ser_core.training.trainer import Trainer

SR = 16000
#: small configs so that every model trains in seconds on a CPU (only fields a model has apply)
TINY = {
    "acrnn": dict(conv_channels=(8, 8), bottleneck=32, lstm_hidden=16, fc_hidden=8),
    "squirtlenet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 32)),
    "charmanet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 32)),
    "bulbanet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 32)),
    "glam": dict(stem_channels=4), "glam_plus": dict(stem_channels=4),
    "dslstm": dict(cnn_channels=(4, 4), hidden=16, lstm_hidden=16),
    "dual_dslstm": dict(cnn_channels=(4, 4), hidden=16, lstm_hidden=16),
    "parallel_cnn_transformer": dict(dim_feedforward=64),
    "lstm": dict(hidden=16, fc=8), "mlp": dict(hidden=(16,)), "cnn": dict(channels=8, hidden=8),
    "cnn_bilstm": dict(conv_channels=(8, 8), hidden=8),
    "serct": dict(conv_channels=32, embed_dim=32, num_layers=1, num_heads=2, ffn_dim=32,
                  dense_dims=(16, 8)),
}
for _v in ("serct_vanilla", "serct_cnn", "serct_nocnn"):
    TINY[_v] = TINY["serct"]


def tiny_config(name: str) -> dict:
    """The TINY overrides the model's config actually has (robust to config changes)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(model_class(name).config_cls)}
    return {k: v for k, v in TINY.get(name, {}).items() if k in fields}


def clip(label: int, idx: int, seconds: float = 2.5) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    f0 = 150.0 * (1 + label) + 7 * idx
    g = torch.Generator().manual_seed(1000 * label + idx)
    x = sum(0.2 / k * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 4))
    return (x * (0.6 + 0.4 * torch.sin(math.pi * t / seconds)) +
            0.01 * torch.randn(t.shape, generator=g)).float()


@pytest.fixture
def synthetic_bank():
    """12 clips, 3 classes x 4; utterances 0-7 train, 8-9 val, 10-11 test (for glam)."""
    def make(name="glam"):
        spec = model_class(name).input_spec
        labels = [i % 3 for i in range(12)]
        waves = [clip(y, i) for i, y in enumerate(labels)]
        return SegmentBank(waves, labels, SR, spec.segment_s, spec.hop_s), spec
    return make


def make_trainer(bank, spec, name="glam", **recipe_overrides) -> Trainer:
    recipe = recipe_for(name, **{"epochs": 1, "batch_size": 8, **recipe_overrides})
    return Trainer(model_name=name, labels=["a", "b", "c"], recipe=recipe, bank=bank, spec=spec,
                   sample_rate=SR, device=torch.device("cpu"), seed=0,
                   model_config=tiny_config(name), progress=Progress(None, active=False))
