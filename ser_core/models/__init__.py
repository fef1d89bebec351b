"""Model zoo: one file per architecture, each registering itself by name.

Every module in this package other than the shared ones is imported here, so adding a model
is adding a file. See :mod:`ser_core.models.base` for the interface.
"""

from __future__ import annotations

import importlib
import pkgutil

from ser_core.models.base import (  # noqa: F401
    AttentionProbe,
    InputSpec,
    SERModel,
    capture_attention,
    count_parameters,
    for_cpu_inference,
    freeze_all_but_last,
    probe_axes,
    set_trainable_groups,
)
from ser_core.models.registry import build_config, create_model, list_models, model_class  # noqa: F401

_SHARED = {"base", "registry", "layers"}

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _SHARED and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
