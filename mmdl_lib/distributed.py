"""Data-parallel training under ``torchrun``: process group, ranks, reductions (every chapter's engine).

:func:`~mmdl_lib.engine.trainer.fit` uses these to train with ``DistributedDataParallel`` when
the process group is up; :class:`~mmdl_lib.records.Run` writes records from rank 0 only. Without
``torchrun`` every helper is the single-process identity (rank 0 of 1), so chapters call them
unconditionally.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping

import torch
import torch.distributed as dist


def init_from_env(cpu: bool = False) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1): NCCL with one GPU per
    ``LOCAL_RANK`` when CUDA is there (and ``cpu`` is not asked for), gloo otherwise. Returns
    (rank, world size); (0, 1) without torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        if torch.cuda.is_available() and not cpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return rank(), world_size()


def local_device() -> torch.device:
    """This rank's device: its ``LOCAL_RANK`` GPU under torchrun with CUDA, else ``cuda`` / ``cpu``."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if is_distributed() else torch.device("cuda")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0 (or the only process): the one that writes checkpoints, records and progress bars."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(value: Any, src: int = 0) -> Any:
    """``value`` as rank ``src`` has it, on every rank (any picklable object)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def mean_over_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """Every value averaged over the ranks (each rank passes the same keys), in the caller's key order."""
    if not is_distributed() or not values:
        return dict(values)
    keys = sorted(values)  # the same order on every rank, whatever order each built its dict in
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    stacked = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    means = {k: float(v) / world_size() for k, v in zip(keys, stacked.tolist())}
    return {k: means[k] for k in values}


def replica_checksum(model: torch.nn.Module) -> str:
    """A hash of every parameter's bytes: equal on every rank when data-parallel training kept them in sync."""
    digest = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
