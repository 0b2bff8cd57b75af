"""Shared fixtures: an isolated data/cache/results home, and the tiny synthetic world written once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MMDL_PROGRESS", "0")


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """Every format of the tiny preset, seed 0."""
    from mmdl_lib.synth import FORMATS, write_synthetic

    root = tmp_path_factory.mktemp("tiny_world")
    for fmt in FORMATS:
        write_synthetic(fmt, root, preset="tiny", seed=0)
    return root


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Point MMDL_DATA / MMDL_CACHE / MMDL_RESULTS into a temporary folder."""
    for name in ("MMDL_DATA", "MMDL_CACHE", "MMDL_RESULTS"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path
