"""Chapter 03's comparisons (mmdl_lib/chapters/pseudo_lidar_kd/comparisons.py) on hand-made results."""

import numpy as np
import pytest

from mmdl_lib.chapters.pseudo_lidar_kd import comparisons as compare
from mmdl_lib.chapters.pseudo_lidar_kd.kd_losses import KDWeights
from mmdl_lib.data.kitti import KittiObject
from mmdl_lib.metrics.kitti3d import gt_annotation
from mmdl_lib.metrics.uncertainty import Comparison


def car(x: float, z: float, score: float | None = None) -> KittiObject:
    return KittiObject("Car", 0.0, 0, 0.0, np.array([100.0, 50.0, 200.0, 120.0]), np.array([1.5, 1.6, 3.9]),
                       np.array([x, 1.6, z]), 0.0, score)


def ap(bev: float) -> dict:
    return {"Car": {"bev": {"moderate": bev}}}


@pytest.fixture
def hand_made(monkeypatch):
    """Predictions given directly as kitti_eval detection dicts; frames are their label lists."""
    frames = [[car(0, 10), car(3, 15)] for _ in range(40)]
    found = lambda objects: {**gt_annotation(objects), "score": np.array([o.score for o in objects], dtype=float)}
    monkeypatch.setattr(compare, "kitti_annotations",
                        lambda frames_, preds, point_range, classes: ([gt_annotation(f) for f in frames_], preds))
    every = [found([car(0, 10, 0.9), car(3, 15, 0.8)]) for _ in frames]
    half = [found([car(0, 10, 0.9), car(3, 15, 0.8)]) if i % 2 else found([]) for i in range(len(frames))]
    return frames, {"student, KD": every, "student, no KD": half, "student, det + feature KD": every}


def test_a_detector_that_finds_every_car_beats_one_that_finds_half(hand_made):
    frames, predictions = hand_made
    found = compare.frame_bootstrap(frames, predictions, (), resamples=300)
    assert set(found) == {"kd_vs_no_kd", "kd_vs_feature_kd_only"}  # pairs whose two results exist
    beaten = found["kd_vs_no_kd"]
    assert beaten.score_a == pytest.approx(100.0) and beaten.score_b < 60
    assert beaten.winner == "KD student (GLPN points)" and beaten.low > 0
    assert "40 val frames" in beaten.method
    same = found["kd_vs_feature_kd_only"]
    assert same.difference == 0.0 and same.low == same.high == 0.0 and same.winner is None


def test_only_the_keys_asked_for_are_compared(hand_made):
    frames, predictions = hand_made
    assert set(compare.frame_bootstrap(frames, predictions, (), keys=["kd_vs_no_kd"], resamples=50)) == {"kd_vs_no_kd"}


def test_seed_comparisons_pair_the_seeds_and_need_every_seed_of_both_students():
    per_seed = {}
    for seed, (kd, no_kd) in enumerate([(30.0, 25.0), (32.0, 26.0), (29.0, 25.5)]):
        per_seed[f"student, KD, seed {seed}"], per_seed[f"student, no KD, seed {seed}"] = ap(kd), ap(no_kd)
        per_seed[f"student on true depth, KD, seed {seed}"] = ap(20.0 + seed)
        per_seed[f"student on true depth, no KD, seed {seed}"] = ap(22.0 - seed)  # crosses: a tie
    found = compare.seed_comparisons(per_seed, [0, 1, 2])
    assert found["kd_vs_no_kd_seeds"].winner == "KD student (GLPN points)"
    assert found["kd_vs_no_kd_seeds"].difference == pytest.approx((5 + 6 + 3.5) / 3)
    assert found["kd_vs_no_kd_true_depth_seeds"].winner is None
    del per_seed["student on true depth, KD, seed 2"]
    assert set(compare.seed_comparisons(per_seed, [0, 1, 2])) == {"kd_vs_no_kd_seeds"}
    assert compare.seed_comparisons(per_seed, [0]) == {}


def test_the_kd_share_is_the_weighted_kd_terms_over_the_weighted_total_of_the_last_phase():
    history = [{"det": 9.0, "feat": 9.0, "logit": 9.0, "phase": 1},
               {"det": 1.0, "feat": 0.2, "logit": 0.4, "phase": 2}, {"det": 3.0, "feat": 0.6, "logit": 0.0, "phase": 2}]
    share = compare.kd_share(history, KDWeights(3.0, 1.5, 1.5))
    assert share["det"] == pytest.approx(2.0) and share["feat"] == pytest.approx(0.4)
    assert share["share"] == pytest.approx((1.5 * 0.4 + 1.5 * 0.2) / (3.0 * 2.0 + 1.5 * 0.4 + 1.5 * 0.2))


def test_one_more_seed_costs_the_two_students_of_a_point_source():
    seconds = {"student, no KD": 50.0, "student, KD": 70.0, "student, det + feature KD": 999.0,
               "student on true depth, no KD": 40.0, "student on true depth, KD": 60.0}
    assert compare.extra_seed_seconds(seconds) == pytest.approx(110.0)
    assert compare.extra_seed_seconds({}) is None


def _comparison(a: str, b: str, difference: float, low: float, high: float, method: str) -> Comparison:
    return Comparison(a, b, compare.METRIC, 10.0 + difference, 10.0, difference, low, high, 0.95, method)


RESULTS = {"teacher": ap(20.0), "teacher on pseudo-LiDAR (no fine-tuning)": ap(1.5),
           "teacher on true-depth pseudo-LiDAR": ap(21.0), "student, no KD": ap(2.0), "student, KD": ap(1.0),
           "student on true depth, no KD": ap(37.0), "student on true depth, KD": ap(27.0)}
HISTORIES = {"student, KD": [{"det": 1.0, "feat": 0.1, "logit": 0.2, "phase": 2}],
             "student on true depth, KD": [{"det": 0.7, "feat": 0.05, "logit": 0.08, "phase": 2}]}


def read(comparisons: dict) -> str:
    return compare.kd_reading(comparisons, RESULTS, HISTORIES, KDWeights(3.0, 1.5, 1.5), {"car_abs_rel": 0.12},
                              120.0, 40, [20, 10])


def test_the_reading_says_kd_ties_or_loses_with_what_the_run_measured():
    text = read({"kd_vs_no_kd": _comparison("KD", "no KD", -1.0, -3.0, 0.5, "paired bootstrap over 40 val frames"),
                 "kd_vs_no_kd_true_depth": _comparison("KD", "no KD", -10.0, -15.0, -4.0, "paired bootstrap")})
    assert "GLPN points: KD ties" in text and "true-depth points: KD loses" in text
    assert "-10.00 [-15.00, -4.00]" in text
    assert "teacher scores 20.00 on real LiDAR" in text and "no-KD student scores 37.00, above the teacher" in text
    assert "no-KD student scores 2.00, not above the teacher" in text
    assert "12.0%" in text  # GLPN's per-car depth error
    assert "about 120 s per point source" in text and "`student_seeds` is off" in text
    assert "40 epochs" in text and "[20, 10]" in text


def test_a_kd_win_gives_no_reasons_and_seeds_decide_over_the_bootstrap():
    text = read({"kd_vs_no_kd": _comparison("KD", "no KD", -1.0, -3.0, 0.5, "paired bootstrap"),
                 "kd_vs_no_kd_seeds": _comparison("KD", "no KD", 2.0, 0.5, 3.5, "t over 3 paired seeds")})
    assert "GLPN points: KD wins" in text and "t over 3 paired seeds" in text
    assert "teacher scores" not in text and "`student_seeds` is off" not in text


def test_the_chapters_own_seed_is_not_trained_again(monkeypatch):
    from mmdl_lib.chapters.pseudo_lidar_kd import pipeline as stage

    trained = []

    def distil(cfg, kd, variants, train, val, frames, point_range, device, prefix="student", seeds=None, seconds=None):
        trained.append((prefix, list(seeds)))
        return {}, {}, {f"{prefix}, {v}, seed {s}": ap(float(s)) for s in seeds for v in variants}, {}

    monkeypatch.setattr(stage, "distil_students", distil)
    cfg = stage.PseudoLidarKDConfig.from_profile("smoke", student_seeds=[0, 1, 2])
    results = {"student, no KD": ap(5.0), "student, KD": ap(6.0)}
    seeded = stage.student_seed_results(cfg, None, {"student": ([], [])}, results, [], (), None)
    assert trained == [("student", [1, 2])]
    assert seeded["student, KD, seed 0"] is results["student, KD"] and "student, no KD, seed 2" in seeded
