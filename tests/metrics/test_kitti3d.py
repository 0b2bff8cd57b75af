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


def _mixed_frames(n: int = 24, seed: int = 1):
    """Frames with 0–3 cars of three heights, most found roughly, some false positives."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for _ in range(n):
        cars = [car(rng.uniform(-5, 5), rng.uniform(8, 40), height_px=rng.choice([30.0, 50.0, 70.0]))
                for _ in range(rng.integers(0, 4))]
        gts.append(gt_annotation(cars))
        found = [car(c.location[0] + rng.normal(0, 0.3), c.location[2] + rng.normal(0, 0.5), rng.uniform(0, 1),
                     height_px=c.bbox[3] - c.bbox[1]) for c in cars if rng.random() < 0.8]
        found += [car(rng.uniform(-5, 5), rng.uniform(8, 40), rng.uniform(0, 1)) for _ in range(rng.integers(0, 2))]
        dts.append(detections(found))
    return gts, dts


@pytest.mark.parametrize("kind", ["bev", "3d", "bev_loose"])
def test_frame_resampled_ap_is_kitti_eval_on_the_resampled_frames(kind):
    from mmdl_lib.metrics.kitti3d import frame_resampled_ap

    gts, dts = _mixed_frames()
    score = frame_resampled_ap(gts, dts, "Car", kind, "moderate")
    rng = np.random.default_rng(0)
    for indices in [np.arange(len(gts)), *(rng.integers(0, len(gts), len(gts)) for _ in range(3)), np.array([2, 2, 5])]:
        expected = kitti_ap([gts[i] for i in indices], [dts[i] for i in indices], ("Car",))["Car"][kind]["moderate"]
        assert score(indices) == pytest.approx(expected, abs=1e-9)


def test_frame_resampled_ap_scores_only_the_frames_drawn():
    from mmdl_lib.metrics.kitti3d import frame_resampled_ap

    gts = [gt_annotation([car(0, 10), car(3, 15)]) for _ in range(2 * FRAMES)]
    dts = [detections([car(0, 10, 0.9), car(3, 15, 0.8)]) for _ in range(FRAMES)] + \
          [detections([]) for _ in range(FRAMES)]
    score = frame_resampled_ap(gts, dts, "Car", "bev", "moderate")
    assert score(np.arange(FRAMES)) == pytest.approx(100.0)  # 80 cars, all found
    assert score(np.arange(FRAMES, 2 * FRAMES)) == 0.0
    assert score(np.arange(2 * FRAMES)) < 60
    with pytest.raises(Exception, match="no AP"):
        frame_resampled_ap(gts, dts, "Car", "bbox")
