"""Released OpenMMLab ``.pth`` checkpoints (chapters 03 and 04), loaded only as safely as the user allows.

torch ≥ 2.6 loads with ``weights_only=True``, which refuses the numpy objects that OpenMMLab's
released checkpoints keep in their ``meta``. Full unpickling can run arbitrary code, so it happens
only for a file the user explicitly marks as trusted, and the book says so when it does. The
book's own weights are safetensors (:mod:`mmdl_lib.engine.checkpoint`).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch

from ..errors import CheckpointError

log = logging.getLogger(__name__)


def read_openmmlab_checkpoint(path: str | Path, trusted: bool = False) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an OpenMMLab checkpoint (or a bare state dict), on the CPU.

    Tried with ``weights_only=True`` first; a file that needs full unpickling is refused unless
    ``trusted`` is True.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not trusted:
            raise CheckpointError(
                f"{path}: this checkpoint holds pickled Python objects that safe loading refuses ({_first_line(e)}). "
                "Unpickling a file can run arbitrary code: if you trust where it came from (e.g. OpenMMLab's "
                "model zoo), load it with trusted=True (the chapters' `trusted_checkpoint` parameter).") from None
        log.warning("%s: loading with full unpickling because it was marked as trusted", path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # a corrupt file fails in many ways; name it, whatever the way
            raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    except (RuntimeError, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {_first_line(e)})") from None
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state_dict of tensors in this checkpoint")
    return state


def load_openmmlab_checkpoint(model: torch.nn.Module, path: str | Path, trusted: bool = False,
                              strict: bool = False) -> dict[str, list[str]]:
    """Load weights into ``model``; returns the missing and unexpected keys (reported, not hidden)."""
    result = model.load_state_dict(read_openmmlab_checkpoint(path, trusted), strict=strict)
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def load_detector_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load the book's safetensors weights of an OpenMMLab model, keeping the modules' state-dict versions.

    mmdet3d's sparse-convolution layers transpose their kernels on load unless the state dict says
    it was written by the current layout (``_metadata`` versions), which safetensors does not keep:
    the versions are taken from the model itself, which saved the file.
    """
    from collections import OrderedDict

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        state = OrderedDict(load_file(str(path)))
        state._metadata = getattr(model.state_dict(), "_metadata", None)  # type: ignore[attr-defined]
        model.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot load weights ({e})") from None
    return model
