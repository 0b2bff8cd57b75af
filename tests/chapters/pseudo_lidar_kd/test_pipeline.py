"""Chapter 03's configuration (mmdl_lib/chapters/pseudo_lidar_kd/)."""

import pytest

from mmdl_lib.chapters.pseudo_lidar_kd.pipeline import PseudoLidarKDConfig
from mmdl_lib.errors import ConfigError


def test_the_rehearsal_keeps_the_full_architectures_with_random_weights():
    full, rehearsal = PseudoLidarKDConfig.from_profile("full"), PseudoLidarKDConfig.from_profile("full", rehearse=True)
    assert rehearsal.depth_architecture == full.depth_architecture == "full" and not rehearsal.depth_pretrained
    assert rehearsal.detector_config == full.detector_config and rehearsal.depth_width == full.depth_width == 1216
    assert rehearsal.phases_epochs() == [1, 1] and full.phases_epochs() == [20, 10]
    assert rehearsal.synthetic and rehearsal.synthetic_preset == "rehearsal" and rehearsal.max_frames == 1
    assert "random weights" in rehearsal.record_notes() and full.record_notes() is None


def test_kitti_weights_exist_for_the_full_glpn_only():
    with pytest.raises(ConfigError, match="depth_pretrained: KITTI weights exist for the full GLPN only"):
        PseudoLidarKDConfig.from_profile("smoke", depth_pretrained=True)


@pytest.fixture(scope="module")
def tiny(tiny_world):
    from mmdl_lib.chapters.pseudo_lidar_kd.frames import load_frame
    from mmdl_lib.openmmlab import load_config

    cfg = PseudoLidarKDConfig.from_profile("smoke", data_root=str(tiny_world / "kitti"), phase_epochs=[1, 1],
                                           batch_size=2, compare=False)
    frames = [load_frame(tiny_world / "kitti", f"{i:06d}") for i in range(2)]
    return cfg, tiny_world / "kitti", frames, tuple(load_config("mvxnet_kitti_smoke").point_cloud_range)


def test_true_depth_clouds_sample_the_depth_maps_and_need_every_frames_map(tiny, tmp_path):
    import shutil

    import numpy as np

    from mmdl_lib.chapters.pseudo_lidar_kd.pipeline import true_depth_clouds

    cfg, root, frames, _ = tiny
    clouds = true_depth_clouds(cfg, root, frames)
    assert len(clouds) == len(frames) and all(c.shape[1] == 4 and len(c) > 0 for c in clouds)
    assert all(np.all(c[:, 3] == cfg.pseudo_intensity) for c in clouds)
    pixels = frames[0].size[0] * frames[0].size[1]
    assert len(clouds[0]) <= cfg.keep_ratio * pixels * 1.01  # the seed's 10 % of the pixels, at most
    copy = tmp_path / "kitti"
    shutil.copytree(root, copy)
    (copy / "training" / "depth_2" / f"{frames[1].frame}.png").unlink()
    assert true_depth_clouds(cfg, copy, frames) is None  # KITTI's object release has no depth maps


def test_each_student_variant_is_a_distilled_copy_and_the_teacher_stays(tiny):
    import torch

    from mmdl_lib.chapters.pseudo_lidar_kd import pipeline as stage
    from mmdl_lib.chapters.pseudo_lidar_kd.kd_model import PseudoLidarKD
    from mmdl_lib.openmmlab import build_model, load_config

    cfg, _, frames, point_range = tiny
    torch.manual_seed(0)
    teacher = build_model(load_config(cfg.detector_config))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    template = PseudoLidarKD(teacher)
    template.cache_teacher(stage.samples(cfg, frames, None, "lidar", point_range))
    train = stage.samples(cfg, frames, [f.points_in_view() for f in frames], "pseudo-lidar", point_range)
    variants = {k: stage.STUDENT_VARIANTS[k] for k in ("no KD", "KD")}
    histories, students, results, predictions = stage.distil_students(
        cfg, template, variants, train, train, frames, point_range, torch.device("cpu"), prefix="probe")
    assert list(histories) == list(students) == list(results) == list(predictions) == ["probe, no KD", "probe, KD"]
    assert {row["phase"] for row in histories["probe, KD"]} == {1, 2}
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    assert students["probe, no KD"] is not students["probe, KD"] is not teacher
    changed = lambda s: any(not torch.equal(v, before[k]) for k, v in s.state_dict().items() if v.is_floating_point())
    assert changed(students["probe, no KD"]) and changed(students["probe, KD"])
    assert "Car" in results["probe, KD"]


def test_with_seeds_every_variant_is_trained_once_per_seed_and_a_seed_gives_one_student(tiny):
    import torch

    from mmdl_lib.chapters.pseudo_lidar_kd import pipeline as stage
    from mmdl_lib.chapters.pseudo_lidar_kd.kd_model import PseudoLidarKD
    from mmdl_lib.openmmlab import build_model, load_config

    cfg, _, frames, point_range = tiny
    torch.manual_seed(0)
    template = PseudoLidarKD(build_model(load_config(cfg.detector_config)))
    template.cache_teacher(stage.samples(cfg, frames, None, "lidar", point_range))
    train = stage.samples(cfg, frames, [f.points_in_view() for f in frames], "pseudo-lidar", point_range)
    kd_only = {"KD": stage.STUDENT_VARIANTS["KD"]}
    run = lambda seeds: stage.distil_students(cfg, template, kd_only, train, train, frames, point_range,
                                              torch.device("cpu"), prefix="probe", seeds=seeds)[1]
    students = run([3, 4])
    assert list(students) == ["probe, KD, seed 3", "probe, KD, seed 4"]
    weights = lambda model: torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.manual_seed(123)  # whatever ran before: the seed alone decides the student
    assert torch.equal(weights(run([3])["probe, KD, seed 3"]), weights(students["probe, KD, seed 3"]))


def test_the_depth_tolerance_scores_the_model_once_per_error_level_on_spoiled_true_depth(tiny, monkeypatch):
    import numpy as np

    from mmdl_lib.chapters.pseudo_lidar_kd import pipeline as stage
    from mmdl_lib.data.kitti import read_depth_maps

    cfg, root, frames, point_range = tiny
    cfg = PseudoLidarKDConfig(**{**cfg.to_dict(), "depth_error_sds": [0.0, 0.3]})
    truth = read_depth_maps(root, [f.frame for f in frames], frames[0].size)
    scored_points = []
    monkeypatch.setattr(stage, "evaluate", lambda model, fr, samples, pr, desc: (
        scored_points.append([s["points"] for s in samples]) or {"desc": desc}, []))
    tolerance = stage.depth_error_tolerance(cfg, "model", truth, frames, point_range)
    assert list(tolerance) == [0.0, 0.3]
    assert [t["ap"]["desc"] for t in tolerance.values()] == ["objects ±0%", "objects ±30%"]
    assert np.all(tolerance[0.0]["car_errors"] == 0)  # no error: the true depth itself
    assert np.abs(tolerance[0.3]["car_errors"]).mean() > 0.05
    assert not all(np.array_equal(a, b) for a, b in zip(*scored_points))  # the objects' points moved
