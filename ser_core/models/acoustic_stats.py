"""``acoustic_stats``: a linear classifier on eGeMAPS-like utterance functionals.

Not a seed model: the lab's baseline, against which every deep model is reported. The input
is one vector per clip (:mod:`ser_core.features.functionals`: F0, loudness, jitter, shimmer,
HNR, spectral balance and slopes, formant-region energies, MFCC and Δ statistics, log-mel
statistics, voicing rates and durations), standardised with the training set's mean and
deviation, then a linear map to class logits. It is fitted in closed form by scikit-learn
(logistic regression or a linear SVM; :mod:`ser_core.training.acoustic_fit`), and its
parameters (scaler mean and scale, weights, bias) are plain tensors, so it is saved and loaded
like every other checkpoint (safetensors + JSON, nothing pickled) and runs in the inference
service like any other model.

Whole clips (``segment_s=None``): the functionals summarise the utterance.

Speaker reference ("my voice"): with ``reference_head=True`` the model holds a second
standardiser and linear map, fitted on functionals minus the mean functionals of the same
speaker's *neutral* reference clips. ``forward`` takes either the functionals ``(batch, D)``
or ``{"x": (batch, D), "reference": (D,) or (batch, D)}``; with a reference it uses the second
head on ``x - reference``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ser_core.models.base import InputSpec, SERModel
from ser_core.models.registry import register_model


def _default_features() -> int:
    from ser_core.features.functionals import n_functionals

    return n_functionals()


@dataclass(frozen=True)
class AcousticStatsConfig:
    """n_features: length of the functional vector (153 with the default feature config).
    classifier: how the weights were fitted (``"logreg"`` or ``"linear_svm"``; a record, the
        forward is the same linear map). C: its inverse regularisation strength.
    reference_head: the speaker-referenced head (always present, see the module docstring)
        was fitted; without it a reference input is refused.
    """

    n_features: int = 0
    classifier: str = "logreg"
    C: float = 1.0
    reference_head: bool = False

    def __post_init__(self) -> None:
        if not self.n_features:
            object.__setattr__(self, "n_features", _default_features())
        if self.classifier not in ("logreg", "linear_svm"):
            raise ValueError(f"classifier must be 'logreg' or 'linear_svm', not {self.classifier!r}")


class _Standardised(nn.Module):
    """``linear((x - mean) / scale)`` with the scaler as (persistent) buffers."""

    def __init__(self, n_features: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.scale)


@register_model
class AcousticStats(SERModel):
    """Standardised functionals -> linear logits."""

    name = "acoustic_stats"
    seed = "lab"
    section = "baseline (eGeMAPS-like functionals, Eyben et al. 2016)"
    input_spec = InputSpec(feature="acoustic_functionals", params={}, segment_s=None, hop_s=None,
                           aggregation="mean")
    config_cls = AcousticStatsConfig
    seed_num_classes = 7
    accepts_reference = True
    fitted_by = "fit-acoustic"  # closed form (scikit-learn), not the gradient trainer

    def __init__(self, num_classes: int, config: AcousticStatsConfig) -> None:
        super().__init__(num_classes, config)
        self.classifier = _Standardised(config.n_features, num_classes)
        self.reference_classifier = _Standardised(config.n_features, num_classes)

    def example_input(self, batch_size: int = 2, seconds: float = 0.5,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(batch_size, self.config.n_features, generator=generator)

    def forward(self, x: Any) -> torch.Tensor:
        if isinstance(x, dict):
            ref = x.get("reference")
            x = x["x"]
            if ref is not None:
                if not self.config.reference_head:
                    raise ValueError("this acoustic_stats checkpoint has no speaker-reference head")
                return self.reference_classifier(x - ref.to(x))
        if x.dim() != 2 or x.shape[-1] != self.config.n_features:
            raise ValueError(f"acoustic_stats expects functionals (batch, {self.config.n_features}), "
                             f"got {tuple(x.shape)}")
        return self.classifier(x)

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return [("reference_classifier", [self.reference_classifier]), ("classifier", [self.classifier])]

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier = _Standardised(self.config.n_features, num_classes)
        self.reference_classifier = _Standardised(self.config.n_features, num_classes)
        self.num_classes = int(num_classes)

    # -- from scikit-learn ------------------------------------------------------------------
    @torch.no_grad()
    def set_head(self, mean, scale, weight, bias, reference: bool = False) -> None:
        """Copy a fitted scaler and linear map (numpy arrays) into the head."""
        head = self.reference_classifier if reference else self.classifier
        head.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        head.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
        head.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
