"""Per-model training recipes: the seeds' optimisers and schedules as defaults.

A :class:`Recipe` is a frozen dataclass; :func:`recipe_for` gives a model's default and
applies overrides (the CLI's ``--lr``, ``--batch-size``, ``--epochs`` ... or
``--set key=value``). The resolved recipe is written into every run manifest and checkpoint.

Defaults and where they come from (``../shared/SEEDS.md``):

======================  =====================================================================
acrnn                   seed 000 §4.3.1: Adam, lr 1e-4, batch 40 (the thesis says "Adam with
                        Nesterov momentum 0.9": plain Adam, beta1 = 0.9); training-set
                        mean/std feature normalisation.
glam, glam_plus         seed 000 §4.3.2: Adam, lr 1e-4, weight decay 1e-6, lr x0.95 per epoch
                        down to 1e-6, batch 32.
serct (+ ablations)     seed 001 §5.3: Adam, lr 1e-3, weight decay 5e-3, StepLR(10, 0.1),
                        batch 16, 20 epochs. The seed 001 baselines (mlp, lstm, cnn_bilstm,
                        cnn) use the same ("kept consistent with those of the SERCT").
squirtlenet             seed 002 Table 4: Adam, lr 6e-5, batch 32, no decay.
charmanet               seed 002 Table 2 id 000: Adam, lr 2e-5, batch 16.
bulbanet                seed 002 gives no tuned values: SquirtleNET's.
parallel_cnn_...        seed 003 gives no optimiser in its text; its public notebook used SGD,
                        lr 1e-2, momentum 0.8, weight decay 1e-3, batch 32. AWGN augmentation
                        on (preset ``awgn``).
dual_dslstm, dslstm     seed 004 §3: Adam, lr 1e-4 (batch not given: 32).
======================  =====================================================================

Epoch budgets are this project's choice (the seeds train to convergence: seed 002 up to 300
epochs with its early-stopping rules); early stopping with ``patience`` on the validation
``monitor`` metric is on for every recipe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ser_core.errors import ConfigError
from ser_core.options import key_values

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "step", "exponential")
BALANCE = ("none", "weighted_loss", "sampler", "corpus_sampler")
MONITORS = {"ua": "max", "wa": "max", "macro_f1": "max", "weighted_f1": "max", "loss": "min"}


@dataclass(frozen=True)
class Recipe:
    """Everything about *how* a model is trained (not what it is or what it reads).

    optimizer/lr/weight_decay/momentum: the optimiser (``momentum`` only for SGD).
    scheduler: ``none`` | ``step`` (x ``gamma`` every ``step_size`` epochs) |
        ``exponential`` (x ``gamma`` per epoch); never below ``min_lr``.
    batch_size: segments per optimisation step (per process under DDP).
    epochs: the maximum; ``patience``: epochs without a better ``monitor`` value before
        stopping (0 = never stop early); ``monitor``: validation metric (``ua``, ``wa``,
        ``macro_f1``, ``weighted_f1`` or ``loss``); the best epoch's weights are kept.
    seed002_rules: also apply seed 002's early-stopping rules A/B/C (see ``stopping``).
    balance: ``weighted_loss`` (cross-entropy with inverse-frequency class weights),
        ``sampler`` (segments drawn with probability inverse to their class frequency),
        ``corpus_sampler`` (segments drawn so that every class has the same mass and, within a
        class, every corpus that has it the same share: probability ∝ 1 / (n_{corpus,class} ·
        corpora with the class); on one corpus it is ``sampler``) or ``none``.
    augment: augmentation spec (``ser_core.training.augment.parse_augment``).
    normalize: compute per-feature mean/std on the training split and standardise inputs.
    grad_clip: max gradient norm (0 = off). label_smoothing: for the cross-entropy.
    mixup_alpha: mixup (Zhang et al., ICLR 2018) of each training batch's features with a
        shuffled copy of itself, ``lam ~ Beta(alpha, alpha)`` per batch and the loss
        ``lam CE(y) + (1 - lam) CE(y_shuffled)``, as GLAM's public code trains (``train.py``,
        ``--alpha 0.5``); 0 = off (seed 000's text does not mention it).
    vad_trim: cut every utterance (training and test) to its speech with voice activity
        detection (:func:`ser_core.vad.trim_waveforms`), as the inference service does.
    spec_mask: SpecAugment's masking (Park et al., Interspeech 2019) of each training
        example's features (:func:`~ser_core.training.optimization.spec_mask_batch`): two
        frequency and two time masks, each up to this fraction of the axis; 0 = off.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    batch_size: int = 32
    epochs: int = 30
    patience: int = 8
    monitor: str = "ua"
    seed002_rules: bool = False
    balance: str = "weighted_loss"
    augment: str = "none"
    normalize: bool = False
    grad_clip: float = 0.0
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    vad_trim: bool = False
    spec_mask: float = 0.0
    source: str = "project default"

    def __post_init__(self) -> None:
        checks = [("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS), ("balance", BALANCE),
                  ("monitor", tuple(MONITORS))]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, "
                                  f"not {getattr(self, name)!r}.")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 0 or self.patience < 0:
            raise ConfigError("lr and batch size must be positive, epochs and patience >= 0.")
        if self.mixup_alpha < 0:
            raise ConfigError(f"mixup_alpha must be >= 0 (0 = off), not {self.mixup_alpha}.")
        if not 0.0 <= self.spec_mask < 0.5:
            raise ConfigError(f"spec_mask must be within 0 (off) and 0.5, not {self.spec_mask}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SERCT = dict(optimizer="adam", lr=1e-3, weight_decay=5e-3, scheduler="step", step_size=10,
              gamma=0.1, batch_size=16, epochs=20, source="seed 001 §5.3")
_SQUIRTLE = dict(optimizer="adam", lr=6e-5, batch_size=32, epochs=100, patience=15,
                 monitor="macro_f1", source="seed 002 Table 4")

RECIPES: dict[str, Recipe] = {
    "acrnn": Recipe(optimizer="adam", lr=1e-4, batch_size=40, epochs=40, patience=8,
                    normalize=True, source="seed 000 §4.3.1"),
    "glam": Recipe(optimizer="adam", lr=1e-4, weight_decay=1e-6, scheduler="exponential",
                   gamma=0.95, min_lr=1e-6, batch_size=32, epochs=40, patience=8,
                   source="seed 000 §4.3.2"),
    "serct": Recipe(**_SERCT),
    "squirtlenet": Recipe(**_SQUIRTLE),
    "charmanet": Recipe(**{**_SQUIRTLE, "lr": 2e-5, "batch_size": 16,
                           "source": "seed 002 Table 2 (id 000)"}),
    "bulbanet": Recipe(**{**_SQUIRTLE, "source": "seed 002 (no tuned values: SquirtleNET's)"}),
    "parallel_cnn_transformer": Recipe(optimizer="sgd", lr=1e-2, momentum=0.8,
                                       weight_decay=1e-3, batch_size=32, epochs=60,
                                       patience=12, augment="awgn",
                                       source="seed 003 (public notebook)"),
    "dual_dslstm": Recipe(optimizer="adam", lr=1e-4, batch_size=32, epochs=40, patience=8,
                          source="seed 004 §3"),
}
RECIPES["glam_plus"] = dataclasses.replace(RECIPES["glam"], source="seed 000 §5.3 (as GLAM)")
RECIPES["dslstm"] = RECIPES["dual_dslstm"]
for _name in ("mlp", "lstm", "cnn_bilstm", "cnn"):
    RECIPES[_name] = Recipe(**{**_SERCT, "source": "seed 001 §5.3 (baselines as SERCT)"})


for _name in ("serct_vanilla", "serct_cnn", "serct_nocnn"):  # seed 001's ablations
    RECIPES[_name] = Recipe(**{**_SERCT, "source": "seed 001 §5.3 (ablations as SERCT)"})


def _fitted_by(model_name: str) -> str | None:
    from ser_core.models import list_models, model_class

    return model_class(model_name).fitted_by if model_name in list_models() else None


def recipe_for(model_name: str, **overrides: Any) -> Recipe:
    """The recipe registered for ``model_name`` with ``overrides`` (``None`` values are
    ignored). A model without a registered recipe is an error: a new model registers its own
    recipe here rather than silently training with defaults."""
    if model_name not in RECIPES:
        fitted_by = _fitted_by(model_name)
        if fitted_by:
            raise ConfigError(f"{model_name} is not trained by gradient descent: fit it with "
                              f"`python -m ser_core {fitted_by}`.")
        raise ConfigError(f"no training recipe is registered for model {model_name!r}; "
                          f"models with recipes: {', '.join(sorted(RECIPES))}.")
    base = RECIPES[model_name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    names = {f.name for f in dataclasses.fields(Recipe)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"unknown recipe option(s) {sorted(unknown)}; options are "
                          f"{', '.join(sorted(names))}.")
    return dataclasses.replace(base, **overrides) if overrides else base


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """``["lr=3e-4", "normalize=true"]`` → typed recipe overrides (types from :class:`Recipe`)."""
    out: dict[str, Any] = {}
    types = {f.name: f.type for f in dataclasses.fields(Recipe)}
    for key, value in key_values(items, "--set"):
        item = f"{key}={value}"
        if key not in types:
            raise ConfigError(f"unknown recipe option {key!r}; options are "
                              f"{', '.join(sorted(types))}.")
        kind = str(types[key])
        try:
            if kind == "bool":
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError
                out[key] = value.lower() in ("1", "true", "yes")
            elif kind == "int":
                out[key] = int(value)
            elif kind == "float":
                out[key] = float(value)
            else:
                out[key] = value
        except ValueError:
            raise ConfigError(f"--set {item!r}: {value!r} is not a valid {kind}.") from None
    return out

