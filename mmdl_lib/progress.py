"""Progress bars for every long loop (tqdm). ``MMDL_PROGRESS=0`` turns them off, which ``mmdl run``
and ``mmdl book`` do so that executed chapters keep clean outputs."""

from __future__ import annotations

import os

from tqdm.auto import tqdm as _tqdm


def tqdm(*args, **kwargs):
    kwargs.setdefault("disable", os.environ.get("MMDL_PROGRESS", "1") == "0")
    kwargs.setdefault("leave", False)
    return _tqdm(*args, **kwargs)
