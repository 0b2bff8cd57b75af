"""KITTI AP|R40 through mmdet3d's kitti_eval, on hand-made detections with hand-computed values."""

import numpy as np
import pytest

from mmdl_lib.data.kitti import KittiObject
from mmdl_lib.metrics.kitti3d import gt_annotation, kitti_ap


def car(x: float, z: float, score: float | None = None, height_px: float = 70.0) -> KittiObject:
    return KittiObject("Car", 0.0, 0, 0.0, np.array([100.0, 50.0, 200.0, 50.0 + height_px]),
                       np.array([1.5, 1.6, 3.9]), np.array([x, 1.6, z]), 0.0, score)


def detections(objects: list[KittiObject]) -> dict:
    anno = gt_annotation(objects)
    anno["score"] = np.array([o.score for o in objects], dtype=float)
    return anno


FRAMES = 40  # 80 cars: the official 40-point sampling needs ≥ 40 boxes to reach every recall point


def test_perfect_detections_score_100_and_none_score_0():
    gts = [gt_annotation([car(0, 10), car(3, 15)]) for _ in range(FRAMES)]
    perfect = kitti_ap(gts, [detections([car(0, 10, 0.9), car(3, 15, 0.8)]) for _ in range(FRAMES)], ("Car",))
    assert perfect["Car"]["bev"] == pytest.approx({"easy": 100.0, "moderate": 100.0, "hard": 100.0})
    assert perfect["Car"]["3d"]["moderate"] == pytest.approx(100.0)
    none = kitti_ap(gts, [detections([]) for _ in range(FRAMES)], ("Car",))
    assert none["Car"]["bev"]["moderate"] == 0.0 and none["Car"]["3d"]["hard"] == 0.0


def test_one_false_positive_ranked_first_gives_the_hand_computed_value():
    """80 cars, all found, one false positive above them all: after k hits the precision is
    k / (k + 1), so the interpolated precision at every recall point is 80/81 → AP = 98.77."""
    gts = [gt_annotation([car(0, 10), car(3, 15)]) for _ in range(FRAMES)]
    dts = [detections([car(0, 10, 0.9), car(3, 15, 0.8)]) for _ in range(FRAMES)]
    dts[0] = detections([car(-5, 30, 0.95), car(0, 10, 0.9), car(3, 15, 0.8)])
    assert kitti_ap(gts, dts, ("Car",))["Car"]["bev"]["moderate"] == pytest.approx(100 * 80 / 81, abs=1e-6)


def test_a_box_off_by_a_metre_fails_iou_07_and_small_cars_are_ignored_at_easy():
    gts = [gt_annotation([car(0, 10), car(3, 15, height_px=30)]) for _ in range(FRAMES)]
    shifted = kitti_ap(gts, [detections([car(0, 11.5, 0.9), car(3, 16.5, 0.8, height_px=30)])
                             for _ in range(FRAMES)], ("Car",))
    assert shifted["Car"]["bev"]["moderate"] == 0.0  # 1.5 m along a 3.9 m car: BEV IoU 0.44 < 0.7
    near_only = kitti_ap(gts, [detections([car(0, 10, 0.9)]) for _ in range(FRAMES)], ("Car",))
    assert near_only["Car"]["bev"]["easy"] == pytest.approx(97.5)  # 40 boxes at easy: the 30 px cars do not count
    assert near_only["Car"]["bev"]["moderate"] < 60  # … but at moderate they are missed


def test_fewer_than_40_boxes_cannot_reach_100():
    """The official sampling: with 2 boxes only two of the 41 recall thresholds exist → 1/40."""
    gts = [gt_annotation([car(0, 10), car(3, 15)])]
    assert kitti_ap(gts, [detections([car(0, 10, 0.9), car(3, 15, 0.8)])], ("Car",))["Car"]["bev"]["easy"] == 2.5


def test_classes_without_ground_truth_are_left_out_and_mismatched_lists_refused():
    gts = [gt_annotation([car(0, 10)])]
    assert set(kitti_ap(gts, [detections([])])) == {"Car"}
    with pytest.raises(Exception, match="1 ground-truth frames but 2"):
        kitti_ap(gts, [detections([]), detections([])])
