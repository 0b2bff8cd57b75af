"""Hydra-style ``key=value`` overrides mapped onto a stage's parameters (chapter 05 takes its seed's).

A seed project configured with Hydra (``python train.py training.n_critic=10``) keeps working here:
a stage names which dotted keys mean which of its parameters, and values are read as Hydra reads
them (YAML, with ``1e-4`` a float).
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

from .errors import ConfigError

# dotted key → (parameter, converter or None); a converter returning KEEP sets nothing
KeyMap = dict[str, tuple[str, Callable[[Any], Any] | None]]
KEEP = object()


def hydra_value(text: str) -> Any:
    value = yaml.safe_load(text)
    if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string; Hydra reads it as a float
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_overrides(overrides: list[str], keys: KeyMap) -> dict[str, Any]:
    """``["training.n_critic=10", …]`` → ``{"n_critic": 10, …}``; an unknown key is an error."""
    values: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in keys:
            raise ConfigError(f"override {item!r}: expected key=value with a key among {sorted(keys)}")
        name, convert = keys[key]
        value = convert(hydra_value(text)) if convert else hydra_value(text)
        if value is not KEEP:
            values[name] = value
    return values
