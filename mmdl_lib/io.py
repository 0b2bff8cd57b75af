"""Atomic file writes and JSON reading with clear errors (used by every chapter)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import DataFormatError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write JSON atomically (keys in insertion order, so output is byte-stable)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a key twice in one object is an error (``json`` would keep the last)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def read_json(path: str | Path, error: Callable[[Path, str], Exception] | None = None) -> Any:
    """Read JSON, naming the file and the position when it is missing or malformed.

    A UTF-8 byte-order mark (Windows editors write one) is accepted and read as without it; a key
    repeated in one object is an error naming the key. ``error(path, message)`` builds the exception
    (default :class:`DataFormatError`; checkpoints and run records pass their own).
    """
    path = Path(path)
    fail = error or (lambda p, message: DataFormatError(p, message))
    if not path.is_file():
        raise fail(path, "file not found" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
        return json.loads(text, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as e:
        raise fail(path, f"not UTF-8 text (byte {e.start}: {e.reason})") from None
    except json.JSONDecodeError as e:
        raise fail(path, f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except _DuplicateKey as e:
        raise fail(path, f"key {e.key!r} appears twice in one object") from None
    except OSError as e:
        raise fail(path, f"cannot read ({e.strerror or e})") from None


def require_field(obj: dict, field: str, path: str | Path, kind: type | tuple[type, ...] | None = None) -> Any:
    """Return ``obj[field]``; a missing field or wrong type names the file and the field."""
    if not isinstance(obj, dict) or field not in obj:
        raise DataFormatError(path, "missing required field", field)
    value = obj[field]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataFormatError(path, f"expected {names}, got {type(value).__name__}", field)
    return value
