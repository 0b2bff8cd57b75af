"""Box metrics of Talk2Car (chapter 02), matching the official ``eval.py``.

Boxes are ``[x, y, w, h]`` (top-left + size), in any consistent unit. AP50 is the share of
commands whose predicted box has IoU **strictly greater** than 0.5 with the ground truth; AP50..95
averages that share over the thresholds 0.50, 0.55, …, 0.95.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert

THRESHOLDS = np.round(np.arange(0.50, 0.951, 0.05), 2)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, "xywh", "xyxy")


def cxcywh_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(box_convert(boxes, "cxcywh", "xyxy"), "xyxy", "xywh")


def pairwise_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of ``pred[i]`` with ``target[i]`` (``[x, y, w, h]``), elementwise.

    ``torchvision.ops.box_iou`` computes the full N×M matrix; its diagonal is this (tests check it).
    """
    a, b = xywh_to_xyxy(pred.float()), xywh_to_xyxy(target.float())
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    union = area_a + area_b - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


def grounding_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean IoU, AP50 (IoU > 0.5) and AP50..95 over commands."""
    iou = pairwise_iou(pred, target).numpy()
    return {
        "mean_iou": float(iou.mean()),
        "ap50": float((iou > 0.5).mean()),
        "ap50_95": float(np.mean([(iou > t).mean() for t in THRESHOLDS])),
    }
