from dataclasses import dataclass
from typing import Literal

import pytest

from mmdl_lib.config import StageConfig
from mmdl_lib.errors import ConfigError


@dataclass
class DemoConfig(StageConfig):
    epochs: int = 1
    lr: float = 1e-3
    data_root: str | None = None

    PROFILES = {"smoke": {"epochs": 2}, "full": {"epochs": 30, "lr": 3e-4}}


def test_profile_values_and_overrides():
    assert DemoConfig.from_profile("smoke").epochs == 2
    full = DemoConfig.from_profile("full", epochs=5)
    assert (full.epochs, full.lr, full.profile) == (5, 3e-4, "full")


def test_none_overrides_mean_profile_default():
    assert DemoConfig.from_profile("full", epochs=None).epochs == 30


def test_int_accepted_for_float_and_coerced():
    cfg = DemoConfig.from_profile("smoke", lr=1)
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": "three"}, "parameter 'epochs'"),
    ({"epoch": 3}, "unknown parameter"),
    ({"lr": True}, "parameter 'lr'"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DemoConfig.from_profile("smoke", **kwargs)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        DemoConfig.from_profile("fast")


@dataclass
class ModeConfig(StageConfig):
    mode: Literal["all", "train", "test"] = "all"
    epochs: int = 1

    PROFILES = {"smoke": {}, "full": {"epochs": 9}}


def test_from_parameters_reads_every_field_by_name_and_nothing_else():
    namespace = {"profile": "full", "mode": "test", "seed": 3, "os": object(), "unrelated": 1, "epochs": None}
    cfg = ModeConfig.from_parameters(namespace)
    assert (cfg.profile, cfg.mode, cfg.seed, cfg.epochs) == ("full", "test", 3, 9)


def test_literal_fields_accept_only_their_values():
    with pytest.raises(ConfigError, match=r"'mode' of ModeConfig expects one of \['all', 'train', 'test'\], got '2'"):
        ModeConfig.from_parameters({"mode": "2"})


@dataclass
class RehearsedConfig(StageConfig):
    epochs: int = 1
    batch_size: int = 256
    pretrained: bool = True
    synthetic_preset: str = "smoke"

    PROFILES = {"smoke": {"epochs": 2, "pretrained": False}, "full": {"epochs": 30}}
    REHEARSAL = {"epochs": 1, "batch_size": 4, "pretrained": False}


def test_a_rehearsal_is_the_full_profile_with_only_its_rehearsal_changes():
    cfg = RehearsedConfig.from_profile("full", rehearse=True)
    assert (cfg.profile, cfg.epochs, cfg.batch_size, cfg.pretrained) == ("full", 1, 4, False)
    assert cfg.synthetic and cfg.synthetic_preset == "rehearsal"
    assert RehearsedConfig.from_profile("full", rehearse=True, batch_size=8).batch_size == 8, "explicit values win"
    full = RehearsedConfig.from_profile("full")
    assert not full.synthetic and (full.epochs, full.batch_size) == (30, 256)
    with pytest.raises(ConfigError, match="rehearses the full profile"):
        RehearsedConfig.from_profile("smoke", rehearse=True)
