"""Seeding and device selection (used by every chapter)."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True):
    """torch's deterministic kernels inside the block (``warn_only``: an op without one warns).

    On more than one CPU thread the backward of an advanced index (``x[idx]``: mmdet3d's point ↔
    voxel gathers in chapter 03, the chosen token's box in chapter 02's head) accumulates in thread
    order, and two trainings with one seed drift apart after a few steps. The deterministic kernel
    sorts the indices first; it costs nothing measurable here.
    """
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def reproducible_kernels(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """:func:`deterministic_algorithms` for a training on the CPU; CUDA trainings keep the caller's
    setting (cuBLAS would also need ``CUBLAS_WORKSPACE_CONFIG``, and speed matters more there)."""
    return deterministic_algorithms() if enabled and device.type == "cpu" else contextlib.nullcontext()


def select_device(preferred: str | None = None) -> torch.device:
    """``preferred`` if given, else CUDA, then Apple MPS, then CPU.

    ``MMDL_DEVICE`` overrides the automatic choice (e.g. ``cpu`` to keep a GPU box free). Under
    ``torchrun`` the process joins the process group first and gets its own ``LOCAL_RANK`` GPU, so
    that every ``fit`` after it trains data-parallel.
    """
    choice = preferred or os.environ.get("MMDL_DEVICE")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from . import distributed

        on_cpu = bool(choice) and not choice.startswith("cuda")
        distributed.init_from_env(cpu=on_cpu)
        return torch.device(choice) if on_cpu else distributed.local_device()
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (no loss scaling needed); a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
