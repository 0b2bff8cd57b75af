"""Model cost: the deployment pair's teacher-over-student ratios (chapter 01)."""

import pytest

from mmdl_lib.metrics.cost import teacher_student_ratios


def test_ratios_are_teacher_over_student_in_each_ones_fastest_runtime():
    pair = {"student (convnext_tiny)": {"params_M": 28.0, "GFLOPs_per_image": 9.0, "ms_per_image_fastest": 30.0},
            "teacher image tower (ViT-B-16)": {"params_M": 86.0, "GFLOPs_per_image": 22.5, "ms_per_image_fastest": 90.0}}
    assert teacher_student_ratios(pair) == pytest.approx({"params": 86 / 28, "flops": 2.5, "latency": 3.0})
