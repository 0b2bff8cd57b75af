"""Model cost: parameters, FLOPs (torch's FlopCounterMode) and latency per image (chapters 01, 02, 05).

:func:`cost_row` is what a chapter's cost table holds for one model. FLOPs count what runs: fused
inference fast paths, whose kernels the counter cannot see, are off while counting
(:func:`count_flops`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """Scaled-dot-product attention's FLOPs (QKᵀ and the weighted sum of V) for the CPU kernel that
    ``F.scaled_dot_product_attention`` dispatches to, which torch's counter has no formula for."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# operators the counter would skip, with their formulas (shapes in, FLOPs out)
EXTRA_FLOP_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def unfused_attention():
    """``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` without their inference fast path.

    In eval mode without gradients, both run as one fused kernel (``aten._native_multi_head_attention``,
    ``aten._transformer_encoder_layer_fwd``) that holds the QKV and output projections and the attention
    itself, and that torch's FLOP counter has no formula for: it would miss a third of a ViT-B/16's work.
    Off, the same module runs as linear layers and scaled-dot-product attention, which it counts.
    """
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


@torch.no_grad()
def count_flops(fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor) -> int:
    """FLOPs of one call (a multiply-add counts as two), per the first dimension's batch, with fused
    attention kernels unfused and a formula for CPU attention (:data:`EXTRA_FLOP_FORMULAS`), so that every
    matrix product is counted (:func:`unfused_attention`). Element-wise work (norms, activations,
    softmax) is not counted, as in the published totals."""
    counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
    with unfused_attention(), counter:
        fn(example)
    return int(counter.get_total_flops() // example.shape[0])


@dataclass(frozen=True)
class Latency:
    """Milliseconds per item of repeated timed calls: the median, and the quartiles as its spread."""

    ms_per_item: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(np.median(self.ms_per_item))

    @property
    def quartiles(self) -> tuple[float, float]:
        q1, q3 = np.percentile(self.ms_per_item, [25, 75])
        return float(q1), float(q3)

    def summary(self, key: str) -> dict[str, float]:
        """``{key: median, key_q1: first quartile, key_q3: third quartile}`` for a cost table."""
        q1, q3 = self.quartiles
        return {key: self.median, f"{key}_q1": q1, f"{key}_q3": q3}


def _timed_call(fn: Callable[[torch.Tensor], Any], example: torch.Tensor) -> float:
    """Milliseconds per item of one call (CUDA synchronised when on a GPU)."""
    if example.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    fn(example)
    if example.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - started) * 1000 / example.shape[0]


@torch.no_grad()
def interleaved_latency(calls: dict[str, tuple[Callable[[torch.Tensor], Any], torch.Tensor]], repeats: int = 10,
                        warmup: int = 2) -> dict[str, Latency]:
    """Each named ``(fn, example)`` timed ``repeats`` times, in turns (a, b, a, b, …), so that the machine's
    noise (another process, a clock change) falls on every model alike and their ratio stays fair."""
    for _ in range(warmup):
        for fn, example in calls.values():
            fn(example)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, (fn, example) in calls.items():
            samples[name].append(_timed_call(fn, example))
    return {name: Latency(tuple(times)) for name, times in samples.items()}


def latency(fn: Callable[[torch.Tensor], Any], example: torch.Tensor, repeats: int = 10, warmup: int = 2) -> Latency:
    """Milliseconds per item of ``repeats`` timed calls of one model."""
    return interleaved_latency({"model": (fn, example)}, repeats, warmup)["model"]


def latency_ratio(numerator: Latency, denominator: Latency, confidence: float = 0.95, resamples: int = 2000,
                  seed: int = 0) -> dict[str, float]:
    """The ratio of two models' median latencies, with a percentile bootstrap interval over the timed
    rounds, resampled in pairs (round i of one with round i of the other: interleaved timing makes
    them share the machine's state)."""
    a, b = np.asarray(numerator.ms_per_item), np.asarray(denominator.ms_per_item)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"paired latencies need the same number of rounds, got {len(a)} and {len(b)}")
    rounds = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    ratios = np.median(a[rounds], axis=1) / np.median(b[rounds], axis=1)
    low, high = np.percentile(ratios, [50 * (1 - confidence), 50 * (1 + confidence)])
    return {"ratio": float(np.median(a) / np.median(b)), "low": float(low), "high": float(high),
            "confidence": confidence, "rounds": len(a)}


def cost_row(module: torch.nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor,
             flops: bool = True, repeats: int = 10, per: str = "image",
             timed: Latency | None = None) -> dict[str, float]:
    """Parameters (M), optionally GFLOPs per item, and latency per item on ``example``'s device: the
    median with its quartiles (``_q1``, ``_q3``), timed here unless ``timed`` is given."""
    module.eval()
    row = {"params_M": count_parameters(module) / 1e6}
    if flops:
        row[f"GFLOPs_per_{per}"] = count_flops(fn, example[:2]) / 1e9
    timed = timed or latency(fn, example, repeats=repeats)
    row.update(timed.summary(f"latency_ms_per_{per}_{example.device.type}"))
    return row


def teacher_student_cost(teacher, student: torch.nn.Module, image_size: int, device: torch.device,
                         batch: int = 32, repeats: int = 10) -> dict[str, dict[str, float]]:
    """Parameters, FLOPs per image and latency per image of a CLIP teacher's image tower and a student
    on the same input (chapter 01), timed in turns; the entry ``"latency ratio"`` is teacher over
    student with its interval (:func:`latency_ratio`)."""
    example = torch.rand(batch, 3, image_size, image_size, device=device)
    timed = interleaved_latency({"teacher": (teacher.encode_image, example), "student": (student, example)}, repeats)
    return {"teacher image tower": cost_row(teacher.image_tower, teacher.encode_image, example, timed=timed["teacher"]),
            "student": cost_row(student, student, example, timed=timed["student"]),
            "latency ratio": latency_ratio(timed["teacher"], timed["student"])}


def teacher_student_ratios(pair: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Teacher over student (the entries whose names start with "teacher" and "student" in a
    deployment pair, chapter 01): parameters, FLOPs, and latency with each in its fastest runtime,
    with the latency ratio's interval where the pair was timed in turns (its ``"latency ratio"``)."""
    teacher, student = (next(v for k, v in pair.items() if k.startswith(role)) for role in ("teacher", "student"))
    ratios = {"params": teacher["params_M"] / student["params_M"],
              "flops": teacher["GFLOPs_per_image"] / student["GFLOPs_per_image"],
              "latency": teacher["ms_per_image_fastest"] / student["ms_per_image_fastest"]}
    if "latency ratio" in pair:
        interval = pair["latency ratio"]
        ratios.update(latency_low=interval["low"], latency_high=interval["high"],
                      latency_confidence=interval["confidence"])
    return ratios


def cost_per_command(model: torch.nn.Module, text_dim: int, image_size: tuple[int, int], device: torch.device,
                     repeats: int = 10) -> dict[str, float]:
    """Parameters and milliseconds per command of a grounding model ``model(images, text)`` (chapter
    02: encoder + head, batch 1) at ``image_size`` (w, h)."""
    text = torch.randn(1, text_dim, device=device)
    model.to(device)
    return cost_row(model, lambda x: model(x, text), torch.rand(1, 3, image_size[1], image_size[0], device=device),
                    flops=False, repeats=repeats, per="command")
