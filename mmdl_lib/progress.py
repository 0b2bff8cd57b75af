"""Progress bars for every long loop (tqdm). ``MMDL_PROGRESS=0`` turns them off, which ``mmdl run``
and ``mmdl book`` do so that executed chapters keep clean outputs. Under ``torchrun`` only rank 0 shows them."""

from __future__ import annotations

import os

import torch.distributed as dist
from tqdm.auto import tqdm as _tqdm


def tqdm(*args, **kwargs):
    other_rank = dist.is_available() and dist.is_initialized() and dist.get_rank() != 0
    kwargs.setdefault("disable", other_rank or os.environ.get("MMDL_PROGRESS", "1") == "0")
    kwargs.setdefault("leave", False)
    return _tqdm(*args, **kwargs)
