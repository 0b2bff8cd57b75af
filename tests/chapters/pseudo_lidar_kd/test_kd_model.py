"""Teacher → student distillation between two MVX-Nets (chapter 03) on the tiny synthetic KITTI set."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.pseudo_lidar_kd.frames import collate_samples, detector_sample, load_frame, require_ground_truth
from mmdl_lib.chapters.pseudo_lidar_kd.kd_losses import KDWeights, feature_kd_loss, logit_kd_loss
from mmdl_lib.chapters.pseudo_lidar_kd.kd_model import FeatureProjector, PseudoLidarKD
from mmdl_lib.errors import MMDLError
from mmdl_lib.openmmlab import build_model, load_config


@pytest.fixture(scope="module")
def frames(tiny_world):
    return [load_frame(tiny_world / "kitti", f"{i:06d}") for i in range(2)]


@pytest.fixture(scope="module")
def point_range():
    return tuple(load_config("mvxnet_kitti_smoke").point_cloud_range)


def pseudo(frame):  # a stand-in for pseudo-LiDAR: the scan, jittered, intensity 0.5
    points = frame.points.copy()
    points[:, :3] += np.random.default_rng(0).normal(0, 0.2, (len(points), 3)).astype(np.float32)
    points[:, 3] = 0.5
    return points


def test_one_kd_step_changes_only_the_student(frames, point_range):
    torch.manual_seed(0)
    teacher = build_model(load_config("mvxnet_kitti_smoke"))
    kd = PseudoLidarKD(teacher)
    kd.cache_teacher([detector_sample(f, f.points, "lidar", point_range=point_range) for f in frames])
    batch = collate_samples([detector_sample(f, pseudo(f), "pseudo-lidar", point_range=point_range) for f in frames])
    before_teacher = {k: v.clone() for k, v in kd.teacher.state_dict().items()}
    before_student = {k: v.clone() for k, v in kd.student.state_dict().items()}
    before_projector = kd.projector.conv.weight.detach().clone()
    kd.weights = KDWeights(1.0, 2.0, 1.0)
    kd.train()
    assert not kd.teacher.training
    terms = kd.terms(batch)
    assert set(terms) == {"det", "feat", "logit", "total"} and all(torch.isfinite(v) for v in terms.values())
    assert terms["feat"] > 0 and terms["det"] > 0
    optimizer = torch.optim.SGD([p for n, p in kd.named_parameters() if not n.startswith("teacher.")], lr=0.01)
    terms["total"].backward()
    optimizer.step()
    assert all(torch.equal(v, kd.teacher.state_dict()[k]) for k, v in before_teacher.items())
    changed = [k for k, v in kd.student.state_dict().items() if v.is_floating_point()
               and not torch.equal(v, before_student[k])]
    assert any("pts_bbox_head" in k for k in changed) and any("pts_voxel_encoder" in k for k in changed)
    assert not any(k.startswith(("img_backbone", "img_neck")) for k in changed)  # the frozen image branch
    assert not torch.equal(kd.projector.conv.weight, before_projector)


def test_kd_without_the_teacher_outputs_of_a_frame_is_an_error(frames, point_range):
    torch.manual_seed(0)
    kd = PseudoLidarKD(build_model(load_config("mvxnet_kitti_smoke")))
    batch = collate_samples([detector_sample(frames[0], pseudo(frames[0]), "pseudo-lidar", point_range=point_range)])
    with pytest.raises(MMDLError, match="no teacher outputs for frames"):
        kd.terms(batch)


def test_a_frame_with_labels_but_no_ground_truth_is_refused(frames, point_range):
    sample = detector_sample(frames[0], pseudo(frames[0]), "pseudo-lidar", point_range=point_range)
    labelled = sample["data_sample"].metainfo["num_labelled"]
    assert labelled > 0 and len(sample["data_sample"].gt_instances_3d) == labelled
    sample["data_sample"].gt_instances_3d = sample["data_sample"].gt_instances_3d[torch.zeros(0, dtype=torch.long)]
    with pytest.raises(MMDLError, match=f"frame 000000 \\(pseudo-lidar points\\): label_2 lists {labelled} objects"):
        collate_samples([sample])
    with pytest.raises(MMDLError, match="none of its 1 frames carries a ground-truth box"):
        require_ground_truth([sample], "student training set")


def test_real_and_pseudo_samples_carry_the_same_annotations(frames, point_range):
    real = detector_sample(frames[1], frames[1].points, "lidar", point_range=point_range)["data_sample"]
    fake = detector_sample(frames[1], pseudo(frames[1]), "pseudo-lidar", point_range=point_range)["data_sample"]
    assert torch.equal(real.gt_instances_3d.bboxes_3d.tensor, fake.gt_instances_3d.bboxes_3d.tensor)
    assert torch.equal(real.gt_instances_3d.labels_3d, fake.gt_instances_3d.labels_3d)


def test_projector_starts_as_identity_and_maps_channels():
    x = torch.randn(2, 8, 5, 6)
    assert torch.allclose(FeatureProjector(8, 8)(x), x)
    assert FeatureProjector(8, 16)(x).shape == (2, 16, 5, 6)


def test_kd_losses_are_minimal_when_the_student_matches_the_teacher():
    feats = [torch.randn(2, 4, 3, 3)]
    assert feature_kd_loss(feats, feats) == 0
    cls, box = torch.randn(2, 6 * 3, 4, 4), torch.randn(2, 6 * 7, 4, 4)
    student = (cls.clone().requires_grad_(True), box.clone().requires_grad_(True))
    loss = logit_kd_loss(([student[0]], [student[1]]), ([cls], [box]), num_classes=3, temperature=2.0)
    loss.backward()
    assert student[0].grad.abs().max() < 1e-6 and student[1].grad.abs().max() < 1e-6
    worse = logit_kd_loss(([cls + 1], [box + 1]), ([cls], [box]), num_classes=3, temperature=2.0)
    assert worse > loss


@pytest.mark.parametrize("n_points", [0, 1])
def test_a_frame_without_points_in_range_has_no_detections_and_cannot_train(frames, point_range, n_points):
    from mmdl_lib.chapters.pseudo_lidar_kd.detector_training import predict_samples

    torch.manual_seed(0)
    detector = build_model(load_config("mvxnet_kitti_smoke"))
    inside = np.tile(np.array([[5.0, 0.0, -1.0, 0.5]], dtype=np.float32), (n_points, 1))
    outside = np.array([[500.0, 0.0, -1.0, 0.5]] * 3, dtype=np.float32)  # a far-off cloud: out of range
    empty = detector_sample(frames[0], np.concatenate([inside, outside]), "pseudo-lidar", point_range=point_range)
    real = detector_sample(frames[1], frames[1].points, "lidar", point_range=point_range)
    assert empty["data_sample"].metainfo["points_in_range"] == n_points
    seen, predict = [], detector.predict
    detector.predict = lambda inputs, samples: seen.extend(s.sample_idx for s in samples) or predict(inputs, samples)
    predictions = predict_samples(detector, [empty, real])  # mmdet3d itself crashes on such a cloud
    assert len(predictions) == 2 and len(predictions[0].bboxes_3d) == 0 and len(predictions[0].scores_3d) == 0
    assert seen == ["000001"]  # the other frame of the batch is still predicted
    with pytest.raises(MMDLError, match=f"frame 000000 \\(pseudo-lidar points\\): {n_points} points inside the point range"):
        collate_samples([empty])


def test_a_fresh_student_copies_the_teacher_and_shares_its_cached_outputs():
    torch.manual_seed(0)
    template = PseudoLidarKD(build_model(load_config("mvxnet_kitti_smoke")), projection=False, temperature=2.0)
    template.teacher_outputs["000000"] = ("cached",)
    kd = template.fresh_student()
    assert kd.teacher is template.teacher and kd.student is not template.student
    assert kd.teacher_outputs is template.teacher_outputs  # computed once for every student
    assert isinstance(kd.projector, torch.nn.Identity) and kd.temperature == 2.0
    teacher = template.teacher.state_dict()
    assert all(torch.equal(v, teacher[k]) for k, v in kd.student.state_dict().items())
    assert any(p.requires_grad for p in kd.student.parameters())
    assert not any(p.requires_grad for p in kd.teacher.parameters())
