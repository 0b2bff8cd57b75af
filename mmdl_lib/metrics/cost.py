"""Model cost: parameters, FLOPs (torch's FlopCounterMode) and latency per image (chapters 01, 02).

:func:`cost_row` is what a chapter's cost table holds for one model.
"""

from __future__ import annotations

import time
from typing import Any, Callable

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


def teacher_student_ratios(pair: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Teacher over student (the entries whose names start with "teacher" and "student" in a
    deployment pair, chapter 01): parameters, FLOPs, and latency with each in its fastest runtime."""
    teacher, student = (next(v for k, v in pair.items() if k.startswith(role)) for role in ("teacher", "student"))
    return {"params": teacher["params_M"] / student["params_M"],
            "flops": teacher["GFLOPs_per_image"] / student["GFLOPs_per_image"],
            "latency": teacher["ms_per_image_fastest"] / student["ms_per_image_fastest"]}


def cost_per_command(model: torch.nn.Module, text_dim: int, image_size: tuple[int, int], device: torch.device,
                     repeats: int = 10) -> dict[str, float]:
    """Parameters and milliseconds per command of a grounding model ``model(images, text)`` (chapter
    02: encoder + head, batch 1) at ``image_size`` (w, h)."""
    text = torch.randn(1, text_dim, device=device)
    model.to(device)
    return cost_row(model, lambda x: model(x, text), torch.rand(1, 3, image_size[1], image_size[0], device=device),
                    flops=False, repeats=repeats, per="command")
