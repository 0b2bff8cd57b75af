"""Chapter 03's comparisons on the headline metric (Car BEV AP|R40 at IoU 0.7, moderate) with their
intervals, and the computed reading of the KD verdicts.

- :func:`frame_bootstrap`: two detectors scored on the same validation frames; the frames are
  resampled with replacement and both APs recomputed on every resample
  (:func:`~mmdl_lib.metrics.kitti3d.frame_resampled_ap`: the devkit's matching, done once per frame).
  The interval is the noise of *which frames* were scored, for these trained detectors.
- :func:`seed_comparisons`: the no-KD and KD students trained once per seed (``student_seeds``);
  the t interval of the per-seed differences is the noise of *training*.
- :func:`kd_reading`: per point source, what the KD verdict says, and where KD does not win, what
  this run measured that bears on it (the teacher's own AP, the KD terms' share of the loss, the
  depth error of the points) and what the full profile changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from ...metrics.kitti3d import frame_resampled_ap
from ...metrics.uncertainty import Comparison, paired_bootstrap, seed_comparison
from .detector_training import kitti_annotations
from .frames import KITTI_CLASSES, KittiFrame
from .kd_losses import KDWeights

METRIC = "Car BEV AP|R40 @0.7 (moderate)"
HEADLINE = ("Car", "bev", "moderate")

# key: (result A, result B, how A reads, how B reads); a pair is compared when both results exist
PAIRS = {
    "teacher_lidar_vs_true_depth": ("teacher", "teacher on true-depth pseudo-LiDAR",
                                    "teacher on real LiDAR", "teacher on true-depth pseudo-LiDAR"),
    "teacher_true_depth_vs_glpn": ("teacher on true-depth pseudo-LiDAR", "teacher on pseudo-LiDAR (no fine-tuning)",
                                   "teacher on true-depth pseudo-LiDAR", "teacher on GLPN pseudo-LiDAR"),
    "kd_vs_no_kd": ("student, KD", "student, no KD", "KD student (GLPN points)", "no-KD student (GLPN points)"),
    "kd_vs_feature_kd_only": ("student, KD", "student, det + feature KD",
                              "KD student (GLPN points)", "feature-KD-only student (GLPN points)"),
    "kd_vs_logit_kd_only": ("student, KD", "student, det + logit KD",
                            "KD student (GLPN points)", "logit-KD-only student (GLPN points)"),
    "kd_vs_no_kd_true_depth": ("student on true depth, KD", "student on true depth, no KD",
                               "KD student (true-depth points)", "no-KD student (true-depth points)"),
    "kd_student_true_depth_vs_glpn": ("student on true depth, KD", "student, KD",
                                      "KD student (true-depth points)", "KD student (GLPN points)"),
}
TEACHER_KEYS = ("teacher_lidar_vs_true_depth", "teacher_true_depth_vs_glpn")
STUDENT_KEYS = ("kd_vs_no_kd", "kd_vs_feature_kd_only", "kd_vs_logit_kd_only", "kd_vs_no_kd_true_depth",
                "kd_student_true_depth_vs_glpn")
# the KD-vs-no-KD verdict of each point source: (bootstrap key, seed key, student prefix, teacher on those points)
SOURCES = {"GLPN": ("kd_vs_no_kd", "kd_vs_no_kd_seeds", "student", "teacher on pseudo-LiDAR (no fine-tuning)"),
           "true-depth": ("kd_vs_no_kd_true_depth", "kd_vs_no_kd_true_depth_seeds", "student on true depth",
                          "teacher on true-depth pseudo-LiDAR")}


def headline(result: Mapping[str, Any]) -> float:
    """The headline number of one AP|R40 result (:func:`~.detector_training.evaluate_kitti`)."""
    cls, kind, difficulty = HEADLINE
    return float(result[cls][kind][difficulty])


def frame_bootstrap(frames: list[KittiFrame], predictions: Mapping[str, list], point_range: tuple[float, ...],
                    keys: Sequence[str] | None = None, resamples: int = 2000, seed: int = 0,
                    pairs: Mapping[str, tuple[str, str, str, str]] = PAIRS) -> dict[str, Comparison]:
    """The ``pairs`` (:data:`PAIRS`; only ``keys`` of them when given) whose two detectors both have
    ``predictions`` on ``frames``, each a paired bootstrap of the headline AP over the frames (the
    same resamples, from ``seed``, for every pair)."""
    cls, kind, difficulty = HEADLINE
    scorers: dict[str, Any] = {}

    def scorer(name: str):
        if name not in scorers:
            gts, dts = kitti_annotations(frames, predictions[name], point_range, KITTI_CLASSES)
            scorers[name] = frame_resampled_ap(gts, dts, cls, kind, difficulty)
        return scorers[name]

    found = {}
    for key, (a, b, label_a, label_b) in pairs.items():
        if (keys is None or key in keys) and a in predictions and b in predictions:
            found[key] = replace(paired_bootstrap(scorer(a), scorer(b), len(frames), (label_a, label_b), METRIC,
                                                  resamples=resamples, seed=seed),
                                 method=f"paired bootstrap over {len(frames)} val frames, {resamples} resamples")
    return found


def seed_comparisons(per_seed: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, Comparison]:
    """KD against no KD per point source over ``seeds`` (paired by seed): ``per_seed`` holds AP|R40
    results keyed ``"<prefix>, <variant>, seed <n>"`` (:func:`~.pipeline.student_seed_results`).
    A point source without every seed of both students is left out; fewer than two seeds, nothing."""
    found = {}
    if len(seeds) < 2:
        return found
    for source, (_, key, prefix, _) in SOURCES.items():
        names = {v: [f"{prefix}, {v}, seed {s}" for s in seeds] for v in ("KD", "no KD")}
        if all(n in per_seed for ns in names.values() for n in ns):
            found[key] = seed_comparison([headline(per_seed[n]) for n in names["KD"]],
                                         [headline(per_seed[n]) for n in names["no KD"]],
                                         (f"KD student ({source} points)", f"no-KD student ({source} points)"), METRIC)
    return found


def extra_seed_seconds(seconds: Mapping[str, float]) -> float | None:
    """What one more seed of the no-KD and KD students costs per point source: the mean, over the point
    sources whose two students ``seconds`` timed, of their summed wall time."""
    pairs = [seconds[f"{prefix}, no KD"] + seconds[f"{prefix}, KD"] for _, _, prefix, _ in SOURCES.values()
             if f"{prefix}, no KD" in seconds and f"{prefix}, KD" in seconds]
    return float(np.mean(pairs)) if pairs else None


def kd_share(history: list[dict[str, float]], weights: KDWeights) -> dict[str, float]:
    """The KD terms' share of a student's weighted loss, averaged over the steps of its last phase:
    ``(feat·L_feat + logit·L_logit) / (det·L_det + feat·L_feat + logit·L_logit)``, with the mean terms."""
    last = max(row["phase"] for row in history)
    rows = [row for row in history if row["phase"] == last]
    mean = {term: float(np.mean([row.get(term, 0.0) for row in rows])) for term in ("det", "feat", "logit")}
    det, kd = weights.det * mean["det"], weights.feat * mean["feat"] + weights.logit * mean["logit"]
    return {**mean, "share": kd / (det + kd) if det + kd > 0 else 0.0, "phase": last}


def kd_reading(comparisons: Mapping[str, Comparison], results: Mapping[str, Any], histories: Mapping[str, list],
               weights: KDWeights, depth_quality: Mapping[str, float], extra_seed_seconds: float | None,
               full_teacher_epochs: int, full_phase_epochs: Sequence[int]) -> str:
    """Markdown: per point source, the KD-vs-no-KD verdict in words (the seed comparison when the run
    has one, else the frame bootstrap), and where KD does not win, what the run measured that bears
    on it; then what the full profile changes. Every number comes from the arguments."""
    lines = []
    for source, (boot_key, seed_key, prefix, teacher_on_points) in SOURCES.items():
        c = comparisons.get(seed_key) or comparisons.get(boot_key)
        if c is None:
            continue
        interval = f"{c.difference:+.2f} [{c.low:+.2f}, {c.high:+.2f}] ({c.method})"
        if c.winner == c.a:
            lines.append(f"- **{source} points: KD wins.** The KD student is ahead of the no-KD student by {interval}.")
            continue
        said = "ties" if c.winner is None else "loses"
        lines.append(f"- **{source} points: KD {said}.** KD student − no-KD student = {interval}"
                     + (": the interval contains zero." if c.winner is None else "."))
        teacher, student = headline(results["teacher"]), headline(results[f"{prefix}, no KD"])
        on_points = headline(results[teacher_on_points]) if teacher_on_points in results else None
        relation = ("above the teacher whose outputs KD imitates" if student > teacher
                    else "not above the teacher, so the target is not weaker than the student")
        lines.append(f"  - The teacher: KD imitates the teacher's outputs on the training frames' real LiDAR. The "
                     f"teacher scores {teacher:.2f} on real LiDAR"
                     + (f" and {on_points:.2f} on these points without fine-tuning" if on_points is not None else "")
                     + f"; the no-KD student scores {student:.2f}, {relation}.")
        kd_name = f"{prefix}, KD"
        if kd_name in histories and histories[kd_name]:
            share = kd_share(histories[kd_name], weights)
            lines.append(f"  - The loss: in its last phase (Det/Feat/Logit = {weights.det:g}/{weights.feat:g}/"
                         f"{weights.logit:g}) the KD terms are {share['share']:.0%} of the KD student's weighted "
                         f"loss (mean L_det {share['det']:.3f}, L_feat {share['feat']:.3f}, "
                         f"L_logit {share['logit']:.3f} over the phase's steps).")
        if source == "GLPN" and "car_abs_rel" in depth_quality:
            true_teacher = results.get("teacher on true-depth pseudo-LiDAR")
            lines.append(f"  - The points: GLPN places each car with a mean relative depth error of "
                         f"{depth_quality['car_abs_rel']:.1%}"
                         + (f"; the same teacher scores {headline(true_teacher):.2f} on true-depth points and "
                            f"{on_points:.2f} on GLPN's" if true_teacher is not None and on_points is not None else "")
                         + ".")
        if c is comparisons.get(boot_key) and seed_key not in comparisons:
            cost = (f" One more seed of both students costs about {extra_seed_seconds:.0f} s per point source "
                    f"on this machine (this run's two students, trained and scored)."
                    if extra_seed_seconds is not None else "")
            lines.append("  - The interval resamples the validation frames of these two trained students; how much "
                         "the seed of fine-tuning moves them is not in it (`student_seeds` is off)." + cost)
    lines.append(f"- **The full profile** changes the setting KD is meant for: the teacher trains "
                 f"{full_teacher_epochs} epochs on KITTI's real scans (or loads released MVX-Net weights) and the "
                 f"students fine-tune for {list(full_phase_epochs)} epochs on GLPN-KITTI's points, so the teacher is "
                 f"expected to stay well above every pseudo-LiDAR student; KITTI has no true depth, so only the GLPN "
                 f"comparison runs. Set `student_seeds` (three or more) there: its verdict is then read over seeds.")
    return "\n".join(lines)
