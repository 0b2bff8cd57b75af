"""Resumable checkpoints: weights as safetensors, optimizer state loaded with ``weights_only=True``.

Layout of a checkpoint folder::

    ckpt/epoch_0003/model.safetensors   model weights
    ckpt/epoch_0003/optimizer.pt        optimizer (+ scheduler) state
    ckpt/epoch_0003/state.json          epoch, history, extra state
    ckpt/latest.json                    {"epoch": 3, "path": "epoch_0003"}, replaced atomically

A folder is written under a temporary name and renamed when complete, then ``latest.json``
is replaced, so an interrupted save leaves the previous checkpoint intact; when ``latest.json`` is
missing (a save interrupted between the two), the newest complete ``epoch_*`` folder is loaded.
Every part that cannot be read is a :class:`CheckpointError` naming that file.
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..errors import CheckpointError
from ..io import atomic_write, read_json, write_json

READS = ("load_weights", "load_checkpoint")


def save_weights(model: torch.nn.Module, path: str | Path) -> Path:
    """Atomically save a model's weights as safetensors (shared tensors handled)."""
    return atomic_write(path, lambda tmp: save_model(model, str(tmp)))


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> torch.nn.Module:
    """Load safetensors weights, naming the file when it is missing, corrupt or mismatched."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found" if not path.exists() else f"{path}: not a file")
    try:
        missing, unexpected = load_model(model, str(path), strict=strict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot load weights ({e})") from None
    return model


def save_checkpoint(
    folder: str | Path,
    epoch: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    state: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"epoch_{epoch:04d}"
    tmp = folder / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None},
        tmp / "optimizer.pt",
    )
    (tmp / "state.json").write_text(json.dumps({"epoch": epoch, **(state or {})}))
    final = folder / name
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    write_json(folder / "latest.json", {"epoch": epoch, "path": name})
    for old in sorted(folder.glob("epoch_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> dict[str, Any] | None:
    """Restore the latest checkpoint in ``folder``; ``None`` when there is none yet."""
    folder = Path(folder)
    ckpt = _latest(folder)
    if ckpt is None:
        return None
    state = read_json(ckpt / "state.json", _error)
    if not isinstance(state, dict) or type(state.get("epoch")) is not int:
        raise CheckpointError(f"{ckpt / 'state.json'}: corrupt checkpoint state (no integer 'epoch')")
    load_weights(model, ckpt / "model.safetensors")
    if optimizer is not None:
        _load_optimizer(ckpt / "optimizer.pt", optimizer, scheduler)
    return state


def _error(path: Path, message: str) -> CheckpointError:
    return CheckpointError(f"{path}: {message}")


def _latest(folder: Path) -> Path | None:
    """The checkpoint ``latest.json`` points at; without it the newest complete ``epoch_*`` folder."""
    pointer = folder / "latest.json"
    if not pointer.exists():
        complete = sorted(p for p in folder.glob("epoch_*") if p.is_dir()) if folder.is_dir() else []
        return complete[-1] if complete else None
    latest = read_json(pointer, lambda path, message: CheckpointError(
        f"{path}: corrupt checkpoint pointer ({message}); delete the folder to start over"))
    if not (isinstance(latest, dict) and type(latest.get("epoch")) is int and isinstance(latest.get("path"), str)):
        raise CheckpointError(f"{pointer}: corrupt checkpoint pointer (expected {{\"epoch\": int, \"path\": str}}, "
                              f"got {str(latest)[:60]}); delete the folder to start over")
    ckpt = folder / latest["path"]
    if not ckpt.is_dir():
        raise CheckpointError(f"{pointer}: points at {ckpt.name}, which is not a checkpoint folder")
    return ckpt


def _load_optimizer(path: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: optimizer state not found" if not path.exists() else f"{path}: not a file")
    try:
        opt = torch.load(path, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
        if scheduler is not None and opt["scheduler"] is not None:
            scheduler.load_state_dict(opt["scheduler"])
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, EOFError, pickle.UnpicklingError,
            zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: cannot read the optimizer state ({type(e).__name__}: {str(e)[:200]})") from None


def check_fingerprint(folder: str | Path, saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """A checkpoint resumes only the run that wrote it: same model, optimiser and settings."""
    if saved is None or saved == current:
        return
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    details = ", ".join(f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in changed[:6])
    raise CheckpointError(f"{folder}: the checkpoint was written by a run with other settings ({details}); "
                          "resume with the same settings, or start a new run")
