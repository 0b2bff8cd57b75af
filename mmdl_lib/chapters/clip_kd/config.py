"""Chapter 01's settings: the region-CLIP teacher's (shared with later chapters) and the student's,
per profile, and what its smoke run must show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...region_clip import RegionTeacherConfig

LOSS_COMBINATIONS = {"all three": (1.0, 1.0, 1.0), "L_clip only": (1.0, 0.0, 0.0), "L_sim only": (0.0, 1.0, 0.0),
                     "L_cos only": (0.0, 0.0, 1.0)}


@dataclass
class ClipKDConfig(RegionTeacherConfig):
    """Chapter 01: the region-CLIP teacher's settings (:class:`~mmdl_lib.region_clip.RegionTeacherConfig`)
    and the student's."""

    # student
    backbone: str = "convnext_tiny"
    student_pretrained: bool = True
    epochs: int = 10
    lr: float = 5e-4
    weight_decay: float = 0.05
    w_clip: float = 1.0
    w_sim: float = 1.0
    w_cos: float = 1.0
    kd_temperature: float = 0.1
    ablation: bool = True
    multiscale_variant: bool = True
    num_workers: int = 4
    latency_batches: list[int] = field(default_factory=lambda: [1, 32])  # the ONNX runtimes are timed at these
    latency_repeats: int = 5  # timed calls per measurement (median)

    PROFILES = {
        "smoke": {**RegionTeacherConfig.PROFILES["smoke"], "backbone": "convnext_atto", "student_pretrained": False,
                  "epochs": 6, "lr": 3e-3, "num_workers": 0},
        "full": {**RegionTeacherConfig.PROFILES["full"]},
    }
    # the full profile on a CPU: random teacher and student, 8 regions a split, 2 steps an epoch
    REHEARSAL = {**RegionTeacherConfig.REHEARSAL, "student_pretrained": False, "epochs": 1, "latency_batches": [1, 2],
                 "latency_repeats": 1}


CONFIG = ClipKDConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    students, chance = metrics["students"], metrics["chance"]
    return {"student text→region R@5 above twice chance": students["all three"]["t2r_R@5"] > 2 * chance["t2r_R@5"],
            "every loss alone above chance": all(students[k]["t2r_R@5"] > chance["t2r_R@5"]
                                                 for k in LOSS_COMBINATIONS if k in students),
            "ONNX student matches PyTorch (cosine ≥ 0.999)": metrics["onnx"]["parity"]["min_cosine"] >= 0.999}
