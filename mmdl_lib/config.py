"""Typed stage configuration with ``smoke`` and ``full`` profiles (used by every chapter).

A stage declares a dataclass of its settings and a ``PROFILES`` table of overrides per profile::

    @dataclass
    class ClipKDConfig(StageConfig):
        epochs: int = 10
        PROFILES = {"smoke": {...}, "full": {...}}

    cfg = ClipKDConfig.from_profile("smoke", epochs=3)
    cfg = ClipKDConfig.from_parameters(globals())  # in a notebook: its parameters, by name

Overrides whose value is ``None`` are ignored, so a notebook's parameters cell can default
every knob to ``None`` ("the profile's value") and papermill's ``-p`` sets only what it names.
A parameter is written once, in the notebook's parameters cell; the config reads every name
that is one of its fields, and a test checks that each notebook parameter is a field.
A field whose hint is a ``Literal`` accepts only those values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ConfigError

PROFILE_NAMES = ("smoke", "full")


@dataclass
class StageConfig:
    """Settings every stage shares."""

    profile: str = "smoke"
    seed: int = 0
    device: str | None = None  # None: CUDA, then MPS, then CPU
    resume: str | None = None  # folder of an interrupted run (results/<stage>/<run>) to continue

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {}, "full": {}}

    @classmethod
    def from_profile(cls, profile: str = "smoke", **overrides: Any):
        if profile not in cls.PROFILES:
            raise ConfigError(f"unknown profile {profile!r} for {cls.__name__}; choose one of {sorted(cls.PROFILES)}")
        values = {**cls.PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}
        values["profile"] = profile
        return cls(**check_fields(cls, values))

    @classmethod
    def from_parameters(cls, namespace: dict[str, Any]):
        """The config from a notebook's parameters: every name in ``namespace`` that is a field.

        Call it right after the parameters cell (``globals()``); ``profile`` picks the profile.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in namespace.items() if name in names}
        return cls.from_profile(values.pop("profile", "smoke"), **values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> dict[str, Any]:
        """The settings a resumed training must share with the interrupted one (not where it runs)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("device", "resume")}


def _accepts(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return f"one of {list(typing.get_args(hint))}"
    return str(hint)


def check_fields(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown names and values of the wrong type, naming the parameter."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {cls.__name__}; known: {sorted(fields)}")
    for name, value in values.items():
        if not _accepts(hints[name], value):
            raise ConfigError(f"parameter {name!r} of {cls.__name__} expects {_describe(hints[name])}, got {value!r}")
        if hints[name] is float and isinstance(value, int):
            values[name] = float(value)
    return values
