"""Training and inference of an mmseg segmentor on in-memory or on-disk pairs (chapter 04).

:func:`train_segmentor` drives mmengine's own step (``model.train_step`` with an optimiser wrapper
whose ``paramwise_cfg`` gives module-wise learning-rate multipliers), one process or many: under
``torchrun`` it initialises the process group through mmengine's launcher (``init_dist``), wraps
the model in ``MMDistributedDataParallel`` and shards the data with a ``DistributedSampler``;
only rank 0 writes checkpoints and shows progress. Checkpoints are resumable
(:mod:`mmdl_lib.engine.checkpoint`).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from ... import distributed
from ...engine.checkpoint import check_fingerprint, load_checkpoint, save_checkpoint
from ...openmmlab.configs import quiet_mmengine
from ...progress import tqdm
from ...runtime import reproducible_kernels


def seg_batch(items: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list]:
    """(RGB image (H, W, 3) uint8, train-id label (H, W)) pairs → mmseg's ``{"inputs", "data_samples"}``."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    inputs, samples = [], []
    for image, label in items:
        shape = tuple(label.shape)
        sample = SegDataSample(metainfo={"img_shape": shape, "ori_shape": shape, "pad_shape": shape})
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(np.asarray(label, dtype=np.int64))[None])
        samples.append(sample)
        inputs.append(torch.tensor(np.asarray(image, dtype=np.uint8)).permute(2, 0, 1).contiguous())
    return {"inputs": inputs, "data_samples": samples}


def launch_distributed() -> tuple[int, int]:
    """Under ``torchrun`` (``WORLD_SIZE`` > 1) join the process group: mmengine's launcher with NCCL
    on GPUs; on CPUs gloo through torch directly (mmengine's launcher selects a CUDA device
    unconditionally). Returns (rank, world size); (0, 1) in a single process."""
    from mmengine.dist import init_dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available() and not distributed.is_distributed():
        init_dist("pytorch", backend="nccl")
    return distributed.init_from_env()


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, lr_mults: dict[str, float]):
    """mmengine's optimiser wrapper: AdamW, each parameter whose name contains a key of ``lr_mults``
    at ``lr × multiplier``."""
    from mmengine.optim import build_optim_wrapper

    custom = {key: {"lr_mult": mult} for key, mult in lr_mults.items()}
    with quiet_mmengine(logging.ERROR):  # one warning per frozen parameter otherwise
        return build_optim_wrapper(model, {"optimizer": {"type": "AdamW", "lr": lr, "weight_decay": weight_decay},
                                       "paramwise_cfg": {"custom_keys": custom}})


def train_segmentor(model: torch.nn.Module, dataset: Dataset, *, epochs: int, batch_size: int, lr: float,
                    weight_decay: float = 0.05, lr_mults: dict[str, float] | None = None, seed: int = 0,
                    device: torch.device = torch.device("cpu"), checkpoint_dir: str | Path | None = None,
                    fingerprint: dict[str, Any] | None = None, max_steps: int | None = None,
                    desc: str = "segmentor") -> list[dict[str, float]]:
    """Train ``model`` (an mmseg segmentor) with AdamW and a cosine schedule; returns per-epoch mean
    losses. ``max_steps`` caps the steps of every epoch (the CPU rehearsal)."""
    from mmengine.dist import all_reduce, is_distributed
    from mmengine.model import MMDistributedDataParallel

    rank, world = launch_distributed()
    model = model.to(device)
    if hasattr(model, "seed_augmentation"):
        model.seed_augmentation(seed * 1000 + rank)  # each rank draws its own regions
    sampler = (DistributedSampler(dataset, world, rank, shuffle=True, seed=seed, drop_last=True) if is_distributed()
               else RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=seg_batch, drop_last=True)
    steps = min(len(loader), max_steps or len(loader))
    if steps == 0:
        raise ValueError(f"{desc}: {len(dataset)} images cannot fill one batch of {batch_size} on {world} process(es)")
    optim = build_optimizer(model, lr, weight_decay, lr_mults or {})
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optim.optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / (epochs * steps), 1.0))))
    history: list[dict[str, float]] = []
    start = 0
    if checkpoint_dir is not None:
        state = load_checkpoint(checkpoint_dir, model, optim.optimizer, scheduler)
        if state is not None:
            check_fingerprint(checkpoint_dir, state.get("fingerprint"), fingerprint or {})
            start, history = state["epoch"], state["history"]
    runner = MMDistributedDataParallel(module=model, find_unused_parameters=True) if is_distributed() else model
    model.train()
    with reproducible_kernels(device):  # one seed, one segmentor on any CPU thread count
        for epoch in range(start + 1, epochs + 1):
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            totals: dict[str, torch.Tensor] = {}
            bar = tqdm(loader, total=steps, desc=f"{desc} {epoch}/{epochs}")  # rank 0's, as MMDL_PROGRESS says
            for step, batch in enumerate(bar):
                if step >= steps:
                    break
                logs = runner.train_step(batch, optim)
                scheduler.step()
                for key, value in logs.items():
                    totals[key] = totals.get(key, torch.zeros(())) + value.detach().float().cpu()
                bar.set_postfix(loss=f"{float(logs['loss'].detach()):.3f}")
            means = {}
            for key, total in totals.items():
                mean = total / steps
                all_reduce(mean, op="mean")
                means[key] = float(mean)
            history.append({"epoch": epoch, **means})
            if checkpoint_dir is not None and rank == 0:
                save_checkpoint(checkpoint_dir, epoch, model, optim.optimizer, scheduler,
                                {"history": history, "fingerprint": fingerprint or {}})
    model.eval()
    return history


@torch.no_grad()
def predict_class_maps(model: torch.nn.Module, images: np.ndarray | list[np.ndarray], batch_size: int = 8,
                       device: torch.device = torch.device("cpu"), desc: str = "predict",
                       each: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor | None:
    """The segmentor's class maps (N, classes, H, W) for RGB images; with ``each``, ``each(start, maps)``
    is called per batch instead (nothing is kept: a large set need not fit in memory)."""
    model.eval()
    kept = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc):
        chunk = images[start:start + batch_size]
        items = [(img, np.zeros(img.shape[:2], np.uint8)) for img in chunk]
        batch = model.data_preprocessor(seg_batch(items), False)
        maps = model.encode_decode(batch["inputs"].to(device), [s.metainfo for s in batch["data_samples"]]).cpu()
        if each is None:
            kept.append(maps)
        else:
            each(start, maps)
    return torch.cat(kept) if each is None else None
