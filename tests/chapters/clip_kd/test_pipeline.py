"""Chapter 01's deployment step: the student's ONNX export on real crops."""

import torch

from mmdl_lib.chapters.clip_kd import pipeline as clip_kd
from mmdl_lib.data.coco_regions import COCORegionTextDataset
from mmdl_lib.models.student import StudentConfig, build_student


def test_the_student_exports_to_onnx_and_matches_pytorch_on_validation_crops(tiny_world, tmp_path):
    val = COCORegionTextDataset(tiny_world / "coco", "val", image_size=48, min_window=40)
    torch.manual_seed(0)
    student = build_student(StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=48))
    report = clip_kd.export_student(student, val, tmp_path, batches=(1, 8), repeats=1)
    assert (tmp_path / "student.onnx").is_file()
    assert report["parity"]["min_cosine"] >= 0.999 and report["parity"]["rows"] == min(64, len(val))
    assert set(report["latency_ms_per_image_cpu"]) == {"batch 1", "batch 8"}
