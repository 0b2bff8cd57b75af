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


def data_dir() -> Path:
    return Path(os.environ.get("MMDL_DATA", _home() / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("MMDL_CACHE", _home() / "cache"))


def results_dir() -> Path:
    return Path(os.environ.get("MMDL_RESULTS", project_root() / "results"))


def display_path(path: str | Path) -> str:
    """``path`` as a page may show it: relative to the book's checkout, or under ``$MMDL_RESULTS``,
    ``$MMDL_CACHE``, ``$MMDL_DATA`` or ``~``; never the absolute path of the machine that built the
    page (used by every chapter's printed paths)."""
    path = Path(path).expanduser().resolve()
    for name, base in (("$MMDL_RESULTS", results_dir()), ("$MMDL_CACHE", cache_dir()), ("$MMDL_DATA", data_dir())):
        base = base.resolve()
        if path.is_relative_to(base):
            return f"{name}/{path.relative_to(base)}".rstrip("/")
    root = project_root()
    if path.is_relative_to(root):
        return str(path.relative_to(root))
    home = Path.home().resolve()
    if path.is_relative_to(home):
        return f"~/{path.relative_to(home)}"
    return path.name
