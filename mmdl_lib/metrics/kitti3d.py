"""KITTI 3D detection metrics, AP|R40 for BEV and 3D boxes (chapter 03), computed by mmdet3d's own
``kitti_eval`` (the official devkit's matching, difficulty filters and interpolation).

The book only converts: ground truth from ``label_2`` objects and detections from LiDAR-frame
boxes into the annotation dicts that ``kitti_eval`` reads (``name``, ``bbox``, ``dimensions`` as
(l, h, w), camera-frame ``location``, ``rotation_y``, ``score``, …), the way mmdet3d's
``KittiMetric`` does. IoU thresholds are the official ones: 0.7 for Car, 0.5 for Pedestrian and
Cyclist; Easy / Moderate / Hard are the devkit's box-height, occlusion and truncation limits.
"""

from __future__ import annotations

from typing import Callable

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


_KINDS = {"bev": (1, "strict"), "3d": (2, "strict"), "bev_loose": (1, "loose"), "3d_loose": (2, "loose")}
_CLASS_IDS = {"Car": 0, "Pedestrian": 1, "Cyclist": 2}
_MIN_OVERLAP = {"strict": {"Car": 0.7, "Pedestrian": 0.5, "Cyclist": 0.5},
                "loose": {"Car": 0.5, "Pedestrian": 0.25, "Cyclist": 0.25}}  # kitti_eval's two sets


def frame_resampled_ap(gt_annos: list[dict], dt_annos: list[dict], class_name: str = "Car", kind: str = "bev",
                       difficulty: str = "moderate") -> Callable[[np.ndarray], float]:
    """AP|R40 (percent) of one class, box type (``bev``, ``3d``, ``bev_loose``, ``3d_loose``) and
    difficulty, as a function of which frames are scored: ``score(indices)`` equals
    ``kitti_ap([gt_annos[i] for i in indices], [dt_annos[i] for i in indices])[class_name][kind][difficulty]``
    (repeats allowed), for a bootstrap over frames.

    ``kitti_eval``'s work is split into what depends on one frame alone — the box overlaps, the
    ignored boxes, the scores of its true positives, and its true/false positive and miss counts at
    every score threshold the whole set can produce — computed once here with mmdet3d's own
    functions; a resample then only sums counts and picks its 41 thresholds (``get_thresholds``), so
    hundreds of resamples cost well under a second after the first.
    """
    setup()
    from mmdet3d.evaluation.functional.kitti_utils import eval as kitti

    if len(gt_annos) != len(dt_annos):
        raise MMDLError(f"{len(gt_annos)} ground-truth frames but {len(dt_annos)} detection frames")
    if kind not in _KINDS or class_name not in _CLASS_IDS or difficulty not in DIFFICULTIES:
        raise MMDLError(f"no AP|R40 for {class_name!r} {kind!r} {difficulty!r}: kinds {list(_KINDS)}, "
                        f"classes {list(_CLASS_IDS)}, difficulties {list(DIFFICULTIES)}")
    metric, strictness = _KINDS[kind]
    min_overlap = _MIN_OVERLAP[strictness][class_name]
    gt_annos = [a if len(a["name"]) else _placeholder_gt() for a in gt_annos]
    n = len(gt_annos)
    overlaps, _, _, _ = kitti.calculate_iou_partly(dt_annos, gt_annos, metric, n)  # one part per frame
    gt_datas, dt_datas, ignored_gts, ignored_dets, dontcares, _, _ = kitti._prepare_data(
        gt_annos, dt_annos, _CLASS_IDS[class_name], DIFFICULTIES.index(difficulty))
    valid = np.array([kitti.clean_data(g, d, _CLASS_IDS[class_name], DIFFICULTIES.index(difficulty))[0]
                      for g, d in zip(gt_annos, dt_annos)], dtype=np.int64)
    frame = lambda i: (overlaps[i], gt_datas[i], dt_datas[i], ignored_gts[i], ignored_dets[i], dontcares[i], metric)
    hits = [kitti.compute_statistics_jit(*frame(i), min_overlap=min_overlap, thresh=0.0, compute_fp=False)[4]
            for i in range(n)]
    candidates = np.unique(np.concatenate(hits)) if n else np.zeros(0)
    counts = np.zeros((n, len(candidates), 3))  # tp, fp, fn of each frame at each candidate threshold
    for i in range(n):
        for k, threshold in enumerate(candidates):
            counts[i, k] = kitti.compute_statistics_jit(*frame(i), min_overlap=min_overlap, thresh=threshold,
                                                        compute_fp=True)[:3]

    def score(indices: np.ndarray) -> float:
        indices = np.asarray(indices, dtype=np.int64)
        found = np.concatenate([hits[i] for i in indices]) if len(indices) else np.zeros(0)
        thresholds = np.array(kitti.get_thresholds(found.copy(), int(valid[indices].sum())), dtype=np.float64)
        weights = np.bincount(indices, minlength=n).astype(np.float64)
        pr = np.einsum("f,fkc->kc", weights, counts[:, np.searchsorted(candidates, thresholds)])
        precision = np.zeros(41)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision[:len(thresholds)] = pr[:, 0] / (pr[:, 0] + pr[:, 1])
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # as kitti_eval: the best precision at any later threshold
        total = 0.0
        for value in precision[1:]:  # get_mAP40's order of summation
            total = total + value
        return float(total / 40 * 100)

    return score


def _placeholder_gt() -> dict[str, np.ndarray]:
    """A DontCare region of zero size: ignored by every class, and no detection matches it."""
    return {"name": np.array(["DontCare"], dtype=object), "truncated": np.array([-1.0]), "occluded": np.array([-1]),
            "alpha": np.array([-10.0]), "bbox": np.zeros((1, 4)), "dimensions": np.full((1, 3), -1.0),
            "location": np.full((1, 3), -1000.0), "rotation_y": np.array([-10.0]), "score": np.zeros(1)}
