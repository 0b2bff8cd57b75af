"""Monocular depth metrics (chapter 03), the standard KITTI set (Eigen et al.): absolute relative
error, RMSE and the share of pixels within 1.25× of the truth, over pixels with ground truth; and
the error a detector feels, per object: the relative error of the median depth of its pixels."""

from __future__ import annotations

import numpy as np

from ...data.kitti import KittiObject, object_pixels


def depth_metrics(predicted: np.ndarray, target: np.ndarray, max_depth: float = 80.0) -> dict[str, float]:
    """``abs_rel``, ``rmse`` (m) and ``delta1`` over pixels whose target is in (0, ``max_depth``]."""
    valid = (target > 0) & (target <= max_depth)
    if not valid.any():
        raise ValueError("no pixel with ground-truth depth to evaluate")
    p, t = np.maximum(predicted[valid].astype(np.float64), 1e-6), target[valid].astype(np.float64)
    ratio = np.maximum(p / t, t / p)
    return {"abs_rel": float(np.mean(np.abs(p - t) / t)), "rmse": float(np.sqrt(np.mean((p - t) ** 2))),
            "delta1": float(np.mean(ratio < 1.25))}


def object_depth_errors(predicted: np.ndarray, target: np.ndarray, objects: list[list[KittiObject]],
                        classes: tuple[str, ...] = ("Car",), min_pixels: int = 5) -> np.ndarray:
    """Signed relative error (median predicted − median true) / median true of each object of
    ``classes`` over its pixels (:func:`~mmdl_lib.data.kitti.object_pixels`), for depth maps (N, H, W)
    and each frame's labels; objects with fewer than ``min_pixels`` visible pixels are skipped.

    A pixel average such as ``abs_rel`` is dominated by road and buildings; a 3D box at IoU 0.7
    needs each car's own depth right to a few per cent."""
    errors = []
    for pred, true, frame_objects in zip(predicted, target, objects):
        for obj in frame_objects:
            if obj.type not in classes:
                continue
            mask = object_pixels(true, obj)
            if mask.sum() >= min_pixels:
                truth = float(np.median(true[mask]))
                errors.append((float(np.median(pred[mask])) - truth) / truth)
    return np.asarray(errors, dtype=np.float64)
