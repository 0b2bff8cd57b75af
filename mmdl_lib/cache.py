"""Cached intermediate results (a trained teacher, a pre-trained encoder), keyed on what made them.

Used by chapters 01 and 02, and by every chapter that trains something once and reuses it. A
cache entry is a folder ``$MMDL_CACHE/<kind>/<key>``. It is built under ``.<key>.partial`` and
renamed into place only when complete, so an interrupted build never leaves a half-written
entry that later runs would trust; the partial folder keeps the build's checkpoints, so the next
attempt resumes where the interrupted one stopped. A complete entry drops them (``checkpoints/``):
nothing resumes a finished build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from .paths import cache_dir


def cache_key(fields: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable ``fields`` (config, data, library version)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_folder(kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The complete cache folder ``kind/key``, built by ``build(folder)`` if missing.

    Returns the folder and whether it was built now.
    """
    final = cache_dir() / kind / key
    if final.is_dir():
        return final, False
    partial = final.with_name(f".{key}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    build(partial)
    if (partial / "checkpoints").is_dir():
        shutil.rmtree(partial / "checkpoints")
    if final.is_dir():  # another process finished first; its entry is as good as ours
        shutil.rmtree(partial, ignore_errors=True)
    else:
        os.replace(partial, final)
    return final, True
