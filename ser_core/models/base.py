"""The one model interface every architecture follows (timm-style).

A model is an ``nn.Module`` subclass of :class:`SERModel` that declares, as class attributes:

* ``seed`` / ``section`` – where in ``../shared/seeds`` it is described;
* ``input_spec`` – an :class:`InputSpec`: which feature kind (a name understood by
  ``ser_core.features.pipeline``), the segment length and hop in seconds, and how segment
  predictions combine into an utterance prediction (``"max"`` or ``"mean"`` of posteriors);
* ``config_cls`` – a frozen dataclass whose defaults are the seed's values.

and implements ``forward(x) -> logits`` of shape ``(batch, num_classes)``. ``x`` is a tensor
for single-input models, or a ``dict[str, Tensor]`` for models with several inputs (the
feature pipeline produces exactly what ``input_spec.feature`` names).

Layer groups
    :meth:`SERModel.layer_groups` returns the model's named groups in input→output order.
    ``freeze_all_but_last(k)`` and :func:`set_trainable_groups` make "unfreeze the last k
    layers" (seed 000) and seed 002's freeze subsets generic. The last group is always the
    classifier head, which :meth:`SERModel.reset_classifier` replaces for transfer learning.

Attention weights
    The single mechanism: a model passes each attention distribution through an
    :class:`AttentionProbe` submodule (an identity). :func:`capture_attention` registers
    forward hooks on every probe and collects what flowed through, keyed by the probe's
    qualified module name. Probes document the axis the weights sum to one over.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class InputSpec:
    """What a model eats.

    feature: feature kind name for ``ser_core.features.pipeline`` (e.g. ``"logmel_deltas"``).
    params: overrides of that kind's feature config (e.g. ``{"n_mfcc": 40}``).
    segment_s: length of one training/inference segment in seconds (``None`` = whole clip).
    hop_s: hop between segments at inference (``None`` = ``segment_s``, no overlap).
    aggregation: how segment posteriors combine into the utterance posterior: ``"max"``
        (max-pool per class, then renormalise; ACRNN) or ``"mean"`` (GLAM and most others).
    """

    feature: str
    params: dict = dataclasses.field(default_factory=dict)
    segment_s: float | None = 3.0
    hop_s: float | None = None
    aggregation: str = "mean"

    def __post_init__(self) -> None:
        if self.aggregation not in ("max", "mean"):
            raise ValueError(f"aggregation must be 'max' or 'mean', not {self.aggregation!r}")


class AttentionProbe(nn.Identity):
    """Identity marker module: attention weights pass through it so hooks can see them.

    ``axis`` names the dimension the weights sum to one over (documentation for the app and
    the generic test), e.g. ``"time"`` for ACRNN's alpha_t of shape ``(batch, time)`` or
    ``"keys"`` for transformer maps of shape ``(batch, heads, queries, keys)``.
    """

    def __init__(self, axis: str = "time", dim: int = -1) -> None:
        super().__init__()
        self.axis = axis
        self.dim = dim

    def extra_repr(self) -> str:
        return f"axis={self.axis!r}, dim={self.dim}"


class SERModel(nn.Module):
    """Base class of all speech-emotion models in the zoo."""

    name: ClassVar[str] = ""
    seed: ClassVar[str] = ""
    section: ClassVar[str] = ""
    input_spec: ClassVar[InputSpec]
    config_cls: ClassVar[type]
    #: class count the seed used (for the parameter table); overridable per model
    seed_num_classes: ClassVar[int] = 4
    #: the CLI command that fits this model instead of the gradient trainer (``None``: ``train``)
    fitted_by: ClassVar[str | None] = None

    def __init__(self, num_classes: int, config: Any) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.config = config

    # -- layer groups -------------------------------------------------------------------
    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        """Named groups of submodules, input→output; the last is the classifier head."""
        raise NotImplementedError

    def classifier_name(self) -> str:
        return self.layer_groups()[-1][0]

    #: attributes holding the classifier head's ``nn.Linear`` layer(s) (the logits)
    heads: tuple[str, ...] = ("classifier",)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier head(s) with fresh ``nn.Linear`` layers for ``num_classes``
        classes (same inputs, same device)."""
        for name in self.heads:
            old = getattr(self, name)
            setattr(self, name, nn.Linear(old.in_features, num_classes,
                                          bias=old.bias is not None).to(old.weight.device))
        self.num_classes = int(num_classes)

    # -- config -------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)


def _group_params(groups: Sequence[tuple[str, list[nn.Module]]]) -> dict[str, list[nn.Parameter]]:
    return {name: [p for m in mods for p in m.parameters()] for name, mods in groups}


def set_trainable_groups(model: SERModel, trainable: Sequence[str]) -> None:
    """Freeze every parameter, then unfreeze the named groups.

    Raises ``ValueError`` for a group name the model does not have.
    """
    groups = _group_params(model.layer_groups())
    unknown = set(trainable) - set(groups)
    if unknown:
        raise ValueError(f"{model.name} has no layer group(s) {sorted(unknown)}; "
                         f"groups are {list(groups)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in trainable:
        for p in groups[name]:
            p.requires_grad_(True)


def freeze_all_but_last(model: SERModel, k: int) -> list[str]:
    """Unfreeze only the last ``k`` layer groups (seed 000's fine-tuning). Returns their names."""
    names = [n for n, _ in model.layer_groups()]
    if not 1 <= k <= len(names):
        raise ValueError(f"k must be between 1 and {len(names)} for {model.name}, not {k}")
    chosen = names[-k:]
    set_trainable_groups(model, chosen)
    return chosen


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Collect every attention distribution that passes an :class:`AttentionProbe`.

    Usage::

        with capture_attention(model) as maps:
            logits = model(x)
        maps["attention_pool.probe"]  # (batch, time) for ACRNN

    Tensors are detached. A probe called several times in one forward (e.g. per layer in a
    loop) stores a list under its name in call order.
    """
    with capture_outputs(model, AttentionProbe) as store:
        yield store


@contextlib.contextmanager
def capture_outputs(model: nn.Module, module_type: type) -> Iterator[dict[str, Any]]:
    """Collect (detached) what every submodule of ``module_type`` outputs during a forward.

    Keyed by qualified module name; a module called several times stores a list in call order.
    The engine behind :func:`capture_attention` (and SERCT's ``capture_windows``).
    """
    store: dict[str, Any] = {}
    handles = []
    for qname, module in model.named_modules():
        if isinstance(module, module_type):
            def hook(_mod, _inp, out, _name=qname):
                value = out.detach()
                if _name in store:
                    prev = store[_name]
                    store[_name] = (prev if isinstance(prev, list) else [prev]) + [value]
                else:
                    store[_name] = value
            handles.append(module.register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def probe_axes(model: nn.Module) -> dict[str, tuple[str, int]]:
    """Map each probe's qualified name to (axis name, dim) it sums to one over."""
    return {n: (m.axis, m.dim) for n, m in model.named_modules() if isinstance(m, AttentionProbe)}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def for_cpu_inference(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with its 4-D weights in channels-last layout (in place).

    Why: on CPU, PyTorch's NCHW ``max_pool2d`` is two orders of magnitude slower than its
    channels-last kernel (a 2x2 pool of a 64 x 125 x 227 map: 15 ms vs 0.3 ms here); with
    channels-last convolution weights oneDNN returns channels-last maps, so every pooling
    after a convolution takes the fast path (dual_dslstm's forward: 66 -> 41 ms at one
    thread). Logits change only by float rounding (the zoo test checks every model).
    """
    return model.eval().to(memory_format=torch.channels_last)


class MfccImageInput:
    """For a model fed a fixed-size MFCC image (config fields ``n_mfcc`` and ``n_frames``)."""

    def example_input(self, batch_size: int = 2, seconds: float | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Random features ``(batch, 1, n_mfcc, n_frames)`` (the size is fixed; ``seconds``
        is ignored)."""
        c = self.config
        return torch.randn(batch_size, 1, c.n_mfcc, c.n_frames, generator=generator)
