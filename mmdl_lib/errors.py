"""Errors that name the file and the field at fault (used by every chapter)."""

from __future__ import annotations

from pathlib import Path


class MMDLError(Exception):
    """Base class: a problem the user can fix, reported without a traceback by the CLI."""


class DataFormatError(MMDLError):
    """A dataset file is missing, malformed or inconsistent."""

    def __init__(self, path: str | Path, message: str, field: str | None = None):
        self.path = Path(path)
        self.field = field
        where = f"{self.path}" + (f" [field '{field}']" if field else "")
        super().__init__(f"{where}: {message}")


class ConfigError(MMDLError):
    """An unknown profile, stage or parameter, or a value of the wrong type."""


class CheckpointError(MMDLError):
    """A checkpoint that cannot be read back."""


class RunRecordError(MMDLError):
    """A run record (results/**/record.json) that cannot be read back."""


class CacheError(DataFormatError):
    """A cache entry that is incomplete or corrupt (delete its folder to rebuild it)."""
