"""Chapter 01's deployment steps: the student's ONNX export on real crops, and the pair's ratios."""

import pytest
import torch

from mmdl_lib.data.coco_regions import COCORegionTextDataset
from mmdl_lib.models.student import StudentConfig, build_student
from mmdl_lib.stages import clip_kd


def test_the_student_exports_to_onnx_and_matches_pytorch_on_validation_crops(tiny_world, tmp_path):
    val = COCORegionTextDataset(tiny_world / "coco", "val", image_size=48, min_window=40)
    torch.manual_seed(0)
    student = build_student(StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=48))
    report = clip_kd.export_student(student, val, tmp_path, batches=(1, 8), repeats=1)
    assert (tmp_path / "student.onnx").is_file()
    assert report["parity"]["min_cosine"] >= 0.999 and report["parity"]["rows"] == min(64, len(val))
    assert set(report["latency_ms_per_image_cpu"]) == {"batch 1", "batch 8"}
    assert clip_kd.crop_batch(val, 3).shape == (3, 3, 48, 48)


def test_deployment_ratios_are_teacher_over_student_in_each_ones_fastest_runtime():
    pair = {"teacher image tower (ViT-B-16)": {"params_M": 86.0, "GFLOPs_per_image": 22.5, "ms_per_image_fastest": 90.0},
            "student (convnext_tiny)": {"params_M": 28.0, "GFLOPs_per_image": 9.0, "ms_per_image_fastest": 30.0}}
    assert clip_kd.deployment_ratios(pair) == pytest.approx({"params": 86 / 28, "flops": 2.5, "latency": 3.0})

