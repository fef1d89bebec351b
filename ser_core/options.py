"""``KEY=VALUE`` settings as the command line and the app take them (``--set lr=3e-4``,
``--model-set conv_channels=[8,8]``, ``--param n_mels=40``, ``awgn,p=0.5``): one parser for
all of them. Standard library only."""

from __future__ import annotations

import json
from typing import Any, Iterable

from ser_core.errors import ConfigError


def key_values(items: Iterable[str] | None, what: str) -> list[tuple[str, str]]:
    """``["k=v", ...]`` as stripped ``(k, v)`` pairs; an item without ``=`` is refused with a
    sentence naming ``what`` (the option it came from, e.g. ``"--set"``)."""
    pairs = []
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{what} {item!r} should look like key=value.")
        key, value = (s.strip() for s in item.split("=", 1))
        pairs.append((key, value))
    return pairs


def parse_value(text: str) -> Any:
    """A setting's value: ``none``/``null`` → None, ``true``/``false`` → bool, then JSON
    (numbers, lists, which become tuples as config dataclasses hold them), else the text."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


def parse_settings(items: Iterable[str] | None, what: str) -> dict[str, Any]:
    """``["k=v", ...]`` → ``{k: parse_value(v)}``."""
    return {k: parse_value(v) for k, v in key_values(items, what)}
