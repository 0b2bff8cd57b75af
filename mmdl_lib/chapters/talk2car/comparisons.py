"""Chapter 02's comparisons with their uncertainty: per-command IoU of each model's val boxes, the
paired bootstrap of the chapter's model against each variant and baseline (AP50 from per-command
hits IoU > 0.5, the metric's own threshold; mean IoU from the per-command IoU), and the measured
reasons the chapter gives when its model does not win.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ...metrics.boxes import pairwise_iou
from ...metrics.uncertainty import Comparison, mean_difference

AP50_THRESHOLD = 0.5  # grounding_metrics counts IoU > 0.5 as a hit


def per_command_iou(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """IoU of each command's predicted box with its ground truth (normalised ``[x, y, w, h]``)."""
    return pairwise_iou(pred, target).double().numpy()


def compare_grounding(iou: Mapping[str, np.ndarray], a: str, rivals: Sequence[str], resamples: int = 2000,
                      seed: int = 0) -> dict[str, Comparison]:
    """``a`` against each rival on AP50 (the mean of per-command hits) and mean IoU, each a paired
    bootstrap over the val commands. Keyed ``"<a> vs <rival> · AP50"`` / ``"… · mean IoU"``."""
    out = {}
    for b in rivals:
        out[f"{a} vs {b} · AP50"] = mean_difference(iou[a] > AP50_THRESHOLD, iou[b] > AP50_THRESHOLD, (a, b), "AP50",
                                                    resamples=resamples, seed=seed)
        out[f"{a} vs {b} · mean IoU"] = mean_difference(iou[a], iou[b], (a, b), "mean IoU", resamples=resamples,
                                                        seed=seed)
    return out


def not_won(comparisons: Mapping[str, Comparison], main: str) -> dict[str, list[Comparison]]:
    """By rival: the comparisons ``main`` does not win (a tie or a loss)."""
    out: dict[str, list[Comparison]] = {}
    for c in comparisons.values():
        if c.winner != main:
            out.setdefault(c.b if c.a == main else c.a, []).append(c)
    return out


def shortfall(comparisons: Mapping[str, Comparison], main: str, reasons: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per rival that ``main`` does not beat (ties and losses), with the measured reason
    given for that rival in ``reasons``, if any; empty when ``main`` wins every comparison."""
    lines = []
    for rival, cs in not_won(comparisons, main).items():
        lost = [c.metric for c in cs if c.winner == rival]
        tied = [c.metric for c in cs if c.winner is None]
        parts = ([f"loses to {rival} on {', '.join(lost)}"] if lost else []) + \
                ([f"cannot be told apart from {rival} on {', '.join(tied)}"] if tied else [])
        widest = max(cs, key=lambda c: c.high - c.low)
        line = (f"{main} {' and '.join(parts)} (the {widest.metric} interval spans {widest.high - widest.low:.3f} "
                f"over {widest.method.removeprefix('paired bootstrap over ')}).")
        if reasons and rival in reasons:
            line += f" {reasons[rival]}"
        lines.append(line)
    return lines


def mean_pairwise_cosine(embeddings: torch.Tensor) -> float:
    """Mean cosine similarity between distinct rows: how close a text encoder puts different commands."""
    x = torch.nn.functional.normalize(embeddings.double(), dim=1)
    n = len(x)
    if n < 2:
        raise ValueError("needs at least two embeddings")
    sim = x @ x.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def relative_weight_change(before: torch.nn.Module, after: torch.nn.Module) -> float:
    """‖θ_after − θ_before‖ / ‖θ_before‖ over the parameters the two modules share by name: how far
    fine-tuning moved them."""
    old = dict(before.named_parameters())
    diff, norm = 0.0, 0.0
    for name, p in after.named_parameters():
        if name in old:
            q = old[name].detach().double().cpu()
            diff += float(((p.detach().double().cpu() - q) ** 2).sum())
            norm += float((q ** 2).sum())
    if norm == 0.0:
        raise ValueError("no shared parameters with a non-zero norm")
    return (diff / norm) ** 0.5


def finetune_reason(moved: float, epochs: int, encoder_lr: float, full_epochs: int) -> str:
    """Why end to end may not beat the head-only control here: how far the encoder moved."""
    return (f"Measured reason: in {epochs} epochs at {encoder_lr:.0e} the encoder's weights moved by {moved:.2%} of "
            f"their norm. The full profile fine-tunes {full_epochs} epochs on the real images (`finetune_encoder` "
            "on), where this comparison is the one to read.")


def text_encoder_reason(closeness: Mapping[str, float], teacher_pretrained: str | None, smoke: bool) -> str:
    """Why MiniLM may beat the teacher's text tower: how close each puts two different commands
    (:func:`mean_pairwise_cosine`), read in the direction the numbers go."""
    tower = (f"pre-trained ({teacher_pretrained})" if teacher_pretrained
             else "trained in chapter 01 on the synthetic region captions only")
    text = (f"Measured: the teacher's text tower, {tower}, puts two different val commands at a mean cosine of "
            f"{closeness['teacher']:.3f}; MiniLM, pre-trained on sentence pairs, at {closeness['minilm']:.3f}")
    text += (" — the teacher's tower packs the commands closer together, so the head has less to tell them apart by."
             if closeness["teacher"] > closeness["minilm"] else ".")
    if smoke:
        text += (" In the full profile the teacher is a pre-trained OpenCLIP model with its own web-scale text tower, "
                 "so this comparison can come out differently there.")
    return text
