"""KITTI 3D detection metrics, AP|R40 for BEV and 3D boxes (chapter 03), computed by mmdet3d's own
``kitti_eval`` (the official devkit's matching, difficulty filters and interpolation).

The book only converts: ground truth from ``label_2`` objects and detections from LiDAR-frame
boxes into the annotation dicts that ``kitti_eval`` reads (``name``, ``bbox``, ``dimensions`` as
(l, h, w), camera-frame ``location``, ``rotation_y``, ``score``, …), the way mmdet3d's
``KittiMetric`` does. IoU thresholds are the official ones: 0.7 for Car, 0.5 for Pedestrian and
Cyclist; Easy / Moderate / Hard are the devkit's box-height, occlusion and truncation limits.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.kitti import KittiCalib, KittiObject, lidar_to_camera
from ..errors import MMDLError
from ..openmmlab.stack import setup

DIFFICULTIES = ("easy", "moderate", "hard")


def gt_annotation(objects: list[KittiObject]) -> dict[str, np.ndarray]:
    """``label_2`` objects as a ``kitti_eval`` ground-truth dict (every type, DontCare included)."""
    n = len(objects)
    return {
        "name": np.array([o.type for o in objects], dtype=object),
        "truncated": np.array([o.truncated for o in objects], dtype=np.float64),
        "occluded": np.array([o.occluded for o in objects], dtype=np.int64),
        "alpha": np.array([o.alpha for o in objects], dtype=np.float64),
        "bbox": np.array([o.bbox for o in objects], dtype=np.float64).reshape(n, 4),
        "dimensions": np.array([o.dimensions[[2, 0, 1]] for o in objects], dtype=np.float64).reshape(n, 3),
        "location": np.array([o.location for o in objects], dtype=np.float64).reshape(n, 3),
        "rotation_y": np.array([o.rotation_y for o in objects], dtype=np.float64),
        "score": np.zeros(n),
    }


def detection_annotation(boxes, scores: torch.Tensor, labels: torch.Tensor, calib: KittiCalib,
                         image_size: tuple[int, int], classes: tuple[str, ...],
                         point_range: tuple[float, ...] | None = None) -> dict[str, np.ndarray]:
    """LiDAR-frame detections (``LiDARInstance3DBoxes``) as a ``kitti_eval`` result dict.

    As mmdet3d's ``KittiMetric``: boxes go to the camera frame with the frame's calibration, the 2D
    box is the image extent of the projected corners (clipped to ``image_size`` (w, h)), and a
    detection outside the image, or with its centre outside ``point_range``, is dropped.
    """
    from mmdet3d.structures import Box3DMode, points_cam2img

    empty = {"name": np.array([], dtype=object), "truncated": np.zeros(0), "occluded": np.zeros(0, dtype=np.int64),
             "alpha": np.zeros(0), "bbox": np.zeros((0, 4)), "dimensions": np.zeros((0, 3)),
             "location": np.zeros((0, 3)), "rotation_y": np.zeros(0), "score": np.zeros(0)}
    if len(boxes) == 0:
        return empty
    boxes = boxes.clone()
    boxes.limit_yaw(offset=0.5, period=2 * np.pi)
    camera = boxes.convert_to(Box3DMode.CAM, lidar_to_camera(calib).astype(np.float32))
    corners = points_cam2img(camera.corners, torch.as_tensor(calib.P2, dtype=torch.float32))
    box2d = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
    width, height = image_size
    valid = (box2d[:, 0] < width) & (box2d[:, 1] < height) & (box2d[:, 2] > 0) & (box2d[:, 3] > 0)
    if point_range is not None:
        low, high = torch.tensor(point_range[:3]), torch.tensor(point_range[3:])
        valid &= ((boxes.center > low) & (boxes.center < high)).all(dim=1)
    if not bool(valid.any()):
        return empty
    box2d = box2d[valid].numpy().astype(np.float64)
    box2d[:, [0, 2]] = box2d[:, [0, 2]].clip(0, width)
    box2d[:, [1, 3]] = box2d[:, [1, 3]].clip(0, height)
    cam = camera.tensor[valid].numpy().astype(np.float64)
    lidar = boxes.tensor[valid].numpy().astype(np.float64)
    n = len(cam)
    return {
        "name": np.array([classes[int(i)] for i in labels[valid]], dtype=object),
        "truncated": np.zeros(n), "occluded": np.zeros(n, dtype=np.int64),
        "alpha": -np.arctan2(-lidar[:, 1], lidar[:, 0]) + cam[:, 6],
        "bbox": box2d, "dimensions": cam[:, 3:6], "location": cam[:, :3], "rotation_y": cam[:, 6],
        "score": scores[valid].detach().cpu().numpy().astype(np.float64),
    }


def kitti_ap(gt_annos: list[dict], dt_annos: list[dict], classes: tuple[str, ...] = ("Car", "Pedestrian", "Cyclist"),
             ) -> dict[str, dict[str, dict[str, float]]]:
    """AP|R40 (percent) per class, box type and difficulty, from mmdet3d's ``kitti_eval``:
    ``{"Car": {"bev": {"easy": …, "moderate": …, "hard": …}, "3d": {…}, "bev_loose": …, "3d_loose": …}, …}``.
    ``bev`` / ``3d`` use the official IoU thresholds (Car 0.7, Pedestrian and Cyclist 0.5); the
    ``_loose`` entries are mmdet3d's second set (Car 0.5, the others 0.25). A class without any
    ground truth in ``gt_annos`` is left out."""

    setup()  # without CUDA, mmdet3d's rotated-IoU module is the CPU stand-in
    from mmdet3d.evaluation.functional.kitti_utils.eval import kitti_eval

    if len(gt_annos) != len(dt_annos):
        raise MMDLError(f"{len(gt_annos)} ground-truth frames but {len(dt_annos)} detection frames")
    if not gt_annos:
        raise MMDLError("KITTI evaluation needs at least one frame")
    present = {str(n) for a in gt_annos for n in a["name"]}
    evaluated = [c for c in classes if c in present]
    if not evaluated:
        raise MMDLError(f"no ground truth of {list(classes)} in the evaluated frames")
    # kitti_eval reads ``alpha[0]`` of every ground-truth frame: give empty frames a placeholder row
    gt_annos = [a if len(a["name"]) else _placeholder_gt() for a in gt_annos]
    _, flat = kitti_eval(gt_annos, dt_annos, list(evaluated), eval_types=["bbox", "bev", "3d"])  # "bbox": aos needs it
    return {c: {kind + suffix: {d: float(flat[f"KITTI/{c}_{tag}_AP40_{d}_{strictness}"]) for d in DIFFICULTIES}
                for kind, tag in (("bev", "BEV"), ("3d", "3D"))
                for suffix, strictness in (("", "strict"), ("_loose", "loose"))} for c in evaluated}


def perfect_score(gt_annos: list[dict], classes: tuple[str, ...] = ("Car", "Pedestrian", "Cyclist")) -> dict:
    """AP|R40 of the ground truth scored against itself: the ceiling on these frames (below 100 when a
    class has fewer than 40 boxes at a difficulty, a property of the official 40-point sampling)."""
    dts = [{**g, "score": np.linspace(1.0, 0.5, len(g["name"]))} for g in gt_annos]
    return kitti_ap(gt_annos, dts, classes)


def _placeholder_gt() -> dict[str, np.ndarray]:
    """A DontCare region of zero size: ignored by every class, and no detection matches it."""
    return {"name": np.array(["DontCare"], dtype=object), "truncated": np.array([-1.0]), "occluded": np.array([-1]),
            "alpha": np.array([-10.0]), "bbox": np.zeros((1, 4)), "dimensions": np.full((1, 3), -1.0),
            "location": np.full((1, 3), -1000.0), "rotation_y": np.array([-10.0]), "score": np.zeros(1)}
