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

**Rehearsal.** ``rehearse=True`` (with the ``full`` profile only) runs the full configuration as it
is on a CPU, changing only what cannot run there: the stage's ``REHEARSAL`` overrides (random
weights instead of downloads, a handful of samples, a capped batch, one or two optimisation steps)
and the data, which comes from the synthetic world's ``rehearsal`` preset (real-size images).
Explicit overrides still win, so a rehearsal can be run with a deliberately wrong setting.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import ConfigError

PROFILE_NAMES = ("smoke", "full")
# What a stage's REHEARSAL may change: weights (pretrained tags, checkpoints), how much data and how
# many steps (epochs, steps, batch sizes, sample caps and subsets), the synthetic preset, model depth where
# the full model cannot fit this machine (the record says so), and how much a latency measurement times
# (`latency_batches`, `latency_repeats`). Nothing else of the full profile.
REHEARSABLE = re.compile(r"pretrained|checkpoint|epochs|steps|batch_size|^max_|limit|samples|subset|train_size|preset|"
                         r"layers|^latency_")


@dataclass
class StageConfig:
    """Settings every stage shares."""

    profile: str = "smoke"
    seed: int = 0
    device: str | None = None  # None: CUDA, then MPS, then CPU
    resume: str | None = None  # folder of an interrupted run (results/<stage>/<run>) to continue
    rehearse: bool = False  # full profile only: its configuration on a CPU with random weights, few samples

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {}, "full": {}}
    # What a rehearsal changes in the full profile; every key must be one of REHEARSABLE (a test checks).
    REHEARSAL: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_profile(cls, profile: str = "smoke", **overrides: Any):
        if profile not in cls.PROFILES:
            raise ConfigError(f"unknown profile {profile!r} for {cls.__name__}; choose one of {sorted(cls.PROFILES)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        rehearsal: dict[str, Any] = {}
        if given.get("rehearse"):
            if profile != "full":
                raise ConfigError(f"rehearse=True rehearses the full profile; got profile {profile!r}")
            names = {f.name for f in dataclasses.fields(cls)}
            rehearsal = {**({"synthetic_preset": "rehearsal"} if "synthetic_preset" in names else {}), **cls.REHEARSAL}
        values = {**cls.PROFILES[profile], **rehearsal, **given}
        values["profile"] = profile
        return cls(**check_fields(cls, values))

    @property
    def synthetic(self) -> bool:
        """Whether the data is the synthetic world's (smoke, and the rehearsal of full), unless a
        ``data_root`` is given."""
        return self.profile == "smoke" or self.rehearse

    @classmethod
    def from_parameters(cls, namespace: dict[str, Any]):
        """The config from a notebook's parameters: every name in ``namespace`` that is a field.

        Call it right after the parameters cell (``globals()``); ``profile`` picks the profile.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in namespace.items() if name in names}
        return cls.from_profile(values.pop("profile", "smoke"), **values)

    # What the run record says about the smoke profile's models, which are not the seed's (None: nothing)
    SMOKE_NOTE: ClassVar[str | None] = None

    def rehearsal_note(self) -> str | None:
        """What the run record says about a rehearsal's models (a stage with something to say overrides it)."""
        return None

    def record_notes(self) -> str | None:
        """What the run record says about models that are not the seed's: the smoke profile's note, a
        rehearsal's, or None for the full profile (which runs the seed's models)."""
        if self.profile == "smoke":
            return self.SMOKE_NOTE
        return self.rehearsal_note() if self.rehearse else None

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
