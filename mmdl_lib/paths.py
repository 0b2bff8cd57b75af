"""Where data, caches and results live. Every location can be moved by an environment variable.

- ``MMDL_DATA``: datasets (real ones and the generated synthetic world), default ``~/.cache/mmdl/data``
- ``MMDL_CACHE``: expensive intermediates (trained teachers, cached features), default ``~/.cache/mmdl/cache``
- ``MMDL_RESULTS``: run records and artifacts, default ``<project>/results``
"""

from __future__ import annotations

import os
from pathlib import Path


def _home() -> Path:
    return Path(os.environ.get("MMDL_HOME", Path.home() / ".cache" / "mmdl"))


def project_root(start: Path | None = None) -> Path:
    """The book's checkout (the folder holding ``_config.yml`` and ``notebooks/``), else the working directory."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return here


def dataset_root(data_root: str | None, profile: str, fmt: str, preset: str, seed: int,
                 folder: str | None = None) -> Path:
    """Where a chapter's dataset lives: ``data_root`` when given; in the smoke profile the synthetic
    world's ``fmt`` (generated on first use); otherwise ``$MMDL_DATA/<folder or fmt>``."""
    if data_root:
        return Path(data_root)
    if profile == "smoke":
        from .synth import ensure_synthetic

        return ensure_synthetic(fmt, preset, seed)
    return data_dir() / (folder or fmt)


def data_dir() -> Path:
    return Path(os.environ.get("MMDL_DATA", _home() / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("MMDL_CACHE", _home() / "cache"))


def results_dir() -> Path:
    return Path(os.environ.get("MMDL_RESULTS", project_root() / "results"))
