"""Monocular depth metrics (chapter 03), the standard KITTI set (Eigen et al.): absolute relative
error, RMSE and the share of pixels within 1.25× of the truth, over pixels with ground truth."""

from __future__ import annotations

import numpy as np


def depth_metrics(predicted: np.ndarray, target: np.ndarray, max_depth: float = 80.0) -> dict[str, float]:
    """``abs_rel``, ``rmse`` (m) and ``delta1`` over pixels whose target is in (0, ``max_depth``]."""
    valid = (target > 0) & (target <= max_depth)
    if not valid.any():
        raise ValueError("no pixel with ground-truth depth to evaluate")
    p, t = np.maximum(predicted[valid].astype(np.float64), 1e-6), target[valid].astype(np.float64)
    ratio = np.maximum(p / t, t / p)
    return {"abs_rel": float(np.mean(np.abs(p - t) / t)), "rmse": float(np.sqrt(np.mean((p - t) ** 2))),
            "delta1": float(np.mean(ratio < 1.25))}
