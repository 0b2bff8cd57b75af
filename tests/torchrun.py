"""Launch a module or script under ``torchrun`` in CPU processes (gloo), for the data-parallel tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def torchrun(*args: str, processes: int = 2, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --nproc_per_node N --master_port <free> *args`` from the repo root."""
    with socket.socket() as probe:  # torchrun's --master_port 0 does not give every rank one port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                           "--master_port", str(port), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
