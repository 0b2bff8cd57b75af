"""Model cost: parameters, FLOPs (torch's FlopCounterMode) and latency per image (chapters 01, 02).

:func:`cost_row` is what a chapter's cost table holds for one model.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_flops(fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor) -> int:
    """FLOPs of one call (a multiply-add counts as two), per the first dimension's batch."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn(example)
    return int(counter.get_total_flops() // example.shape[0])


@torch.no_grad()
def latency_ms(fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor, repeats: int = 10,
               warmup: int = 2) -> float:
    """Median wall time per image in milliseconds (CUDA synchronised when on a GPU)."""
    cuda = example.is_cuda
    for _ in range(warmup):
        fn(example)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn(example)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000 / example.shape[0])


def cost_row(module: torch.nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor,
             flops: bool = True, repeats: int = 10, per: str = "image") -> dict[str, float]:
    """Parameters (M), optionally GFLOPs per item, and median latency per item on ``example``'s device."""
    module.eval()
    row = {"params_M": count_parameters(module) / 1e6}
    if flops:
        row[f"GFLOPs_per_{per}"] = count_flops(fn, example[:2]) / 1e9
    row[f"latency_ms_per_{per}_{example.device.type}"] = latency_ms(fn, example, repeats=repeats)
    return row


def teacher_student_cost(teacher, student: torch.nn.Module, image_size: int, device: torch.device,
                         batch: int = 32, repeats: int = 10) -> dict[str, dict[str, float]]:
    """Parameters, FLOPs per image and latency per image of a CLIP teacher's image tower and a student
    on the same input (chapter 01)."""
    example = torch.rand(batch, 3, image_size, image_size, device=device)
    return {"teacher image tower": cost_row(teacher.image_tower, teacher.encode_image, example, repeats=repeats),
            "student": cost_row(student, student, example, repeats=repeats)}
