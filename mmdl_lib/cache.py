"""Cached intermediate results (a trained teacher, a pre-trained encoder), keyed on what made them.

Used by chapters 01 and 02, and by every chapter that trains something once and reuses it. A
cache entry is a folder ``$MMDL_CACHE/<kind>/<key>``. It is built under ``.<key>.partial`` and
renamed into place only when complete, so an interrupted build never leaves a half-written
entry that later runs would trust; the partial folder keeps the build's checkpoints, so the next
attempt resumes where the interrupted one stopped. A complete entry drops them (``checkpoints/``):
nothing resumes a finished build.

A complete entry lists its files and their sizes in ``.entry.json``; reusing it checks them, so
an entry that lost a file or holds a truncated one is a :class:`CacheError` naming the file (delete
the entry's folder to rebuild it), not a library's raw error later. An entry written before
manifests existed has none and is trusted as it always was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from .errors import CacheError
from .io import read_json, write_json
from .paths import cache_dir

READS = ("cached_folder",)
MANIFEST = ".entry.json"


def cache_key(fields: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable ``fields`` (config, data, library version)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_folder(kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The complete cache folder ``kind/key``, built by ``build(folder)`` if missing.

    Returns the folder and whether it was built now.
    """
    final = cache_dir() / kind / key
    if final.is_dir():
        check_entry(final)
        return final, False
    partial = final.with_name(f".{key}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    build(partial)
    if (partial / "checkpoints").is_dir():
        shutil.rmtree(partial / "checkpoints")
    write_manifest(partial)
    if final.is_dir():  # another process finished first; its entry is as good as ours
        shutil.rmtree(partial, ignore_errors=True)
    else:
        os.replace(partial, final)
    return final, True


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def write_manifest(folder: Path) -> None:
    """Record the entry's files and sizes (``.entry.json``)."""
    write_json(folder / MANIFEST, {"files": _files(folder)})


def check_entry(folder: Path) -> None:
    """Every file the manifest lists is there with its recorded size; extra files are ignored."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return  # an entry from before manifests
    fix = f"delete {folder} to rebuild it"
    listed = read_json(manifest, lambda path, message: CacheError(path, f"{message}; {fix}"))
    files = listed.get("files") if isinstance(listed, dict) else None
    if not isinstance(files, dict) or not all(type(size) is int for size in files.values()):
        raise CacheError(manifest, f"expected {{\"files\": {{name: size}}}}; {fix}", "files")
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            raise CacheError(path, f"cache entry incomplete: {name} not found; {fix}")
        if path.stat().st_size != size:
            raise CacheError(path, f"cache entry corrupt: {name} has {path.stat().st_size} bytes, it was written "
                                   f"with {size}; {fix}")
