"""Resumable checkpoints: weights as safetensors, optimizer state loaded with ``weights_only=True``.

Layout of a checkpoint folder::

    ckpt/epoch_0003/model.safetensors   model weights
    ckpt/epoch_0003/optimizer.pt        optimizer (+ scheduler) state
    ckpt/epoch_0003/state.json          epoch, history, extra state
    ckpt/latest.json                    {"epoch": 3, "path": "epoch_0003"}, replaced atomically

A folder is written under a temporary name and renamed when complete, then ``latest.json``
is replaced, so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..errors import CheckpointError
from ..io import atomic_write, write_json


def save_weights(model: torch.nn.Module, path: str | Path) -> Path:
    """Atomically save a model's weights as safetensors (shared tensors handled)."""
    return atomic_write(path, lambda tmp: save_model(model, str(tmp)))


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> torch.nn.Module:
    """Load safetensors weights, naming the file when it is missing, corrupt or mismatched."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
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
    pointer = folder / "latest.json"
    if not pointer.exists():
        return None
    try:
        latest = json.loads(pointer.read_text())
        ckpt = folder / latest["path"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{pointer}: corrupt checkpoint pointer ({e}); delete the folder to start over") from None
    load_weights(model, ckpt / "model.safetensors")
    try:
        state = json.loads((ckpt / "state.json").read_text())
        if optimizer is not None:
            opt = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)
            optimizer.load_state_dict(opt["optimizer"])
            if scheduler is not None and opt["scheduler"] is not None:
                scheduler.load_state_dict(opt["scheduler"])
    except (OSError, json.JSONDecodeError, RuntimeError, KeyError, ValueError, TypeError, EOFError,
            pickle.UnpicklingError) as e:
        raise CheckpointError(f"{ckpt}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise CheckpointError(f"{ckpt / 'state.json'}: corrupt checkpoint state (no integer 'epoch')")
    return state


def check_fingerprint(folder: str | Path, saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """A checkpoint resumes only the run that wrote it: same model, optimiser and settings."""
    if saved is None or saved == current:
        return
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    details = ", ".join(f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in changed[:6])
    raise CheckpointError(f"{folder}: the checkpoint was written by a run with other settings ({details}); "
                          "resume with the same settings, or start a new run")
