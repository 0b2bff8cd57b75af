"""Run records: every number in the book comes from one of these JSON files under ``results/``.

A record holds the stage, profile, seed, config, metrics, versions, hardware and git sha of one
executed run; the results chapter is generated from them (:mod:`mmdl_lib.book.results`).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import distributed
from .env import environment
from .errors import RunRecordError
from .io import read_json, write_json
from .paths import results_dir

READS = ("read_record", "latest_records")
# every record has these, of these types (a bool is no seed)
REQUIRED: dict[str, type] = {"stage": str, "profile": str, "seed": int, "metrics": dict, "created": str,
                             "environment": dict}


@dataclass
class Run:
    """A run's folder for artifacts, created under ``results/<stage>/<profile>-<timestamp>``."""

    stage: str
    profile: str
    seed: int
    folder: Path

    @classmethod
    def start(cls, stage: str, profile: str, seed: int, root: Path | None = None,
              resume: str | Path | None = None) -> "Run":
        """A new run folder, or with ``resume`` the folder of an interrupted run of this stage and
        profile, whose checkpoints the training engine continues from."""
        if resume is not None:
            folder = Path(resume)
            if not folder.is_dir() or not folder.name.startswith(f"{profile}-") or folder.parent.name != stage:
                raise RunRecordError(f"{folder}: not a run folder of stage {stage!r} and profile {profile!r} "
                                     f"(expected results/{stage}/{profile}-<time>) to resume")
            return cls(stage, profile, seed, folder)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        folder = distributed.broadcast_object((root or results_dir()) / stage / f"{profile}-{stamp}")  # rank 0's
        folder.mkdir(parents=True, exist_ok=True)
        return cls(stage, profile, seed, folder)

    def record(self, metrics: dict[str, Any], config: dict[str, Any] | None = None,
               artifacts: dict[str, str] | None = None, notes: str | None = None) -> Path:
        """Write ``record.json`` atomically and return its path (under torchrun rank 0 writes it).

        A rehearsal's training states (``checkpoints/``: random weights and their optimiser moments)
        are deleted once its record is written: they could only resume a run that has finished, and
        at the full profile's sizes they cost gigabytes per chapter."""
        if not distributed.is_main_process():
            return self.folder / "record.json"
        record = {
            "stage": self.stage,
            "profile": self.profile,
            "seed": self.seed,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            # a rehearsal of the full profile (random weights, a few samples) is never a result
            "rehearsal": bool((config or {}).get("rehearse", False)),
            "config": config or {},
            "metrics": _plain(metrics),
            "artifacts": artifacts or {},
            "notes": notes,
            "environment": environment(),
        }
        path = write_json(self.folder / "record.json", record)
        if record["rehearsal"] and (self.folder / "checkpoints").is_dir():
            shutil.rmtree(self.folder / "checkpoints")
        return path


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars into JSON numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def read_record(path: str | Path) -> dict[str, Any]:
    """Read a run record, naming the file and the field when it is corrupt or incomplete."""
    path = Path(path)
    record = read_json(path, lambda p, message: RunRecordError(f"{p}: corrupt run record ({message})"))
    if not isinstance(record, dict):
        raise RunRecordError(f"{path}: corrupt run record (expected a JSON object)")
    for field, kind in REQUIRED.items():
        if field not in record:
            raise RunRecordError(f"{path}: corrupt run record (missing field '{field}')")
        if not isinstance(record[field], kind) or isinstance(record[field], bool):
            raise RunRecordError(f"{path}: corrupt run record (field '{field}' must be "
                                 f"{'an object' if kind is dict else f'a {kind.__name__}'}, "
                                 f"got {record[field]!r:.40})")
    return record


def latest_records(root: Path | None = None, profile: str | None = None,
                   rehearsal: bool = False) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The newest record of each stage (optionally of one profile); rehearsals of the full profile
    only when ``rehearsal`` is True, and then only they."""
    root = root or results_dir()
    newest: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(root.glob("*/*/record.json")):
        if not re.match(r"^(smoke|full)-", path.parent.name):
            continue
        record = read_record(path)
        if (profile and record["profile"] != profile) or bool(record.get("rehearsal")) != rehearsal:
            continue
        stage = record["stage"]
        if stage not in newest or record["created"] >= newest[stage][1]["created"]:
            newest[stage] = (path, record)
    return newest


def latest_run_folder(stage: str, profile: str | None = None, root: Path | None = None,
                      rehearsal: bool = False) -> Path | None:
    """The folder of the newest run of ``stage`` (used by chapter 02 to find chapter 01's weights;
    a rehearsal finds a rehearsal's)."""
    found = latest_records(root, profile, rehearsal).get(stage)
    return found[0].parent if found else None
