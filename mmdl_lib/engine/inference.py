"""Batched inference of a frozen model over a dataset (chapters 01 and 02: embeddings, cached maps)."""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from ..progress import tqdm
from .trainer import move_to_device


@torch.no_grad()
def batched_outputs(fn: Callable[[torch.Tensor], torch.Tensor], dataset: Dataset, device: torch.device,
                    batch_size: int = 256, num_workers: int = 0, dtype: torch.dtype = torch.float32,
                    desc: str = "inference") -> torch.Tensor:
    """``fn`` over every item of ``dataset`` in order, concatenated on the CPU as ``dtype``."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    return torch.cat([fn(move_to_device(batch, device)).to(dtype).cpu() for batch in tqdm(loader, desc=desc)])


def class_probabilities(model, sets: dict, device: torch.device, parts=("val", "test"), num_workers: int = 0) -> dict:
    """Softmax of ``model(batch["image"])`` over each image set in ``parts`` (chapter 06's approaches)."""
    return {part: torch.softmax(batched_outputs(lambda b: model(b["image"]), sets[part], device, 64, num_workers,
                                                desc=part), 1).numpy() for part in parts}
