"""Model registry: ``@register_model`` on a :class:`SERModel` subclass, ``create_model`` by name."""

from __future__ import annotations

import dataclasses
from typing import Any

from ser_core.errors import ConfigError
from ser_core.models.base import SERModel

_REGISTRY: dict[str, type[SERModel]] = {}


def register_model(cls: type[SERModel]) -> type[SERModel]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_class(name: str) -> type[SERModel]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown model {name!r}. Known models: {', '.join(list_models())}.") from None


def build_config(name: str, **overrides: Any):
    """The model's config dataclass with the seed's defaults, ``overrides`` applied."""
    cls = model_class(name)
    fields = {f.name for f in dataclasses.fields(cls.config_cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ConfigError(f"{name} has no option(s) {sorted(unknown)}; options are {sorted(fields)}.")
    try:
        return cls.config_cls(**overrides)
    except (TypeError, ValueError) as e:  # a config's own check (e.g. n_pools > n_blocks)
        raise ConfigError(f"{name}: {e}.") from None


def create_model(name: str, num_classes: int, **overrides: Any) -> SERModel:
    """Build model ``name`` for ``num_classes`` classes; ``overrides`` replace config fields."""
    cls = model_class(name)
    return cls(num_classes, build_config(name, **overrides))
