"""The one KEY=VALUE parser (ser_core.options) and the options built on it."""

from __future__ import annotations

import pytest

from ser_core.errors import ConfigError
from ser_core.options import key_values, parse_settings, parse_value
from ser_core.training.augment import parse_augment


def test_values_are_typed_like_json_with_none_and_booleans_in_any_case():
    assert parse_settings(["n_mels=40", "lr=3e-4", "conv=[8, 8]", "window=hann", "x=None",
                           "flag=True"], "--param") == \
        {"n_mels": 40, "lr": 3e-4, "conv": (8, 8), "window": "hann", "x": None, "flag": True}
    assert parse_value(" 5500 ") == 5500 and key_values([" a = b=c "], "--set") == [("a", "b=c")]


@pytest.mark.parametrize("call", [lambda: key_values(["lr"], "--set"),
                                  lambda: parse_augment("awgn,p"),
                                  lambda: parse_settings(["oops"], "--model-set")])
def test_an_item_without_equals_sign_is_refused_with_its_option_named(call):
    with pytest.raises(ConfigError, match="should look like key=value"):
        call()
