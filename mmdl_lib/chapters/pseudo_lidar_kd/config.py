"""Chapter 03's settings per profile (depth network, pseudo-LiDAR, detectors, the two KD phases), what its
smoke run must show, and its record notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...config import StageConfig
from ...errors import ConfigError
from .detectors import PACKAGED_MVXNET
from .kd_losses import KDWeights


@dataclass
class PseudoLidarKDConfig(StageConfig):
    data_root: str | None = None  # KITTI object root (training/, ImageSets/); None → synthetic (smoke) or $MMDL_DATA/kitti
    synthetic_preset: str = "smoke"
    detector_config: str = PACKAGED_MVXNET  # an OpenMMLab config: the book's by name or "mmdet3d::<path>"
    teacher_checkpoint: str | None = None  # released MVX-Net weights (.pth): skip training the teacher
    trust_checkpoint: bool = False  # a .pth with pickled objects loads only when the user trusts it
    image_scale: float = 1.0  # the detector's image size relative to the camera's
    depth_architecture: Literal["full", "smoke"] = "full"  # GLPN-KITTI's MiT-b4, or the small GLPN of smoke
    depth_pretrained: bool = True  # GLPN's KITTI weights; False → trained here on depth_2 (0 epochs: random)
    depth_width: int = 1216  # GLPN's input size (multiples of 32)
    depth_height: int = 352
    depth_epochs: int = 0
    depth_lr: float = 2e-3
    depth_batch_size: int = 8
    depth_gradient_weight: float = 0.0  # + this × the gradient-matching loss (sharp cars) when training GLPN here
    depth_max_depth: int | None = None  # run GLPN's head with this max_depth; 10 = transformers' default
    depth_scale: float | None = None  # None → estimated from LiDAR (median ratio); the seed used 8.0
    keep_ratio: float = 0.1  # share of the pixels kept as points (the seed's 10 %)
    pseudo_intensity: float = 0.5  # a camera cannot measure reflectance (the seed's 0.5)
    max_point_depth: float = 80.0
    teacher_epochs: int = 40
    phase_epochs: list[int] | None = None  # epochs per KD phase; None → [20, 10]
    phase_weights: list[list[float]] | None = None  # Det/Feat/Logit per phase; None → the seed's
    batch_size: int = 2
    lr: float = 1e-3
    student_lr: float = 2e-4
    feature_projection: Literal["conv1d", "identity"] = "conv1d"
    kd_temperature: float = 1.0
    compare: bool = True  # also the student with each KD term alone
    true_depth_students: bool = True  # also both students on pseudo-LiDAR from true depth, where the data has it
    student_seeds: list[int] | None = None  # also the no-KD and KD students once per seed: the comparison's spread
    depth_error_sds: list[float] | None = None  # per-object depth errors to score the teacher under; None → 5 %, 15 %
    max_frames: int | None = None  # at most this many frames per split (the rehearsal's handful)
    visualize: bool = True

    PROFILES = {
        "smoke": {"detector_config": "mvxnet_kitti_smoke", "image_scale": 0.5, "depth_architecture": "smoke",
                  "depth_pretrained": False,
                  "depth_width": 192, "depth_height": 64, "depth_epochs": 20, "depth_lr": 4e-3, "depth_batch_size": 4,
                  "depth_gradient_weight": 3.0,
                  "teacher_epochs": 5,
                  "phase_epochs": [1, 1], "batch_size": 4, "lr": 2e-3, "student_lr": 1e-3},
        "full": {},
    }
    # Random GLPN (MiT-b4) and MVX-Net weights, real-size synthetic KITTI frames, one epoch per phase.
    REHEARSAL = {"depth_pretrained": False, "teacher_epochs": 1, "phase_epochs": [1, 1], "max_frames": 1,
                 "batch_size": 1}

    def __post_init__(self) -> None:
        if self.depth_pretrained and self.depth_architecture != "full":
            raise ConfigError(f"depth_pretrained: KITTI weights exist for the full GLPN only, not depth_architecture "
                              f"{self.depth_architecture!r}")

    def error_sds(self) -> list[float]:
        return [0.05, 0.15] if self.depth_error_sds is None else self.depth_error_sds

    def phases_epochs(self) -> list[int]:
        return self.phase_epochs or [20, 10]

    def phases(self) -> list[tuple[int, KDWeights]]:
        epochs = self.phases_epochs()
        weights = self.phase_weights or [[1.0, 2.0, 1.0], [3.0, 1.5, 1.5]]
        return [(e, KDWeights.of(w)) for e, w in zip(epochs, weights)]

    SMOKE_NOTE = "synthetic KITTI; teacher and depth network trained here"

    def rehearsal_note(self) -> str:
        return (f"rehearsal: GLPN ({self.depth_architecture}) and MVX-Net with random weights, "
                f"{self.teacher_epochs} teacher epoch(s), KD phases of {self.phases_epochs()} epochs, real-size synthetic frames")


CONFIG = PseudoLidarKDConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    car = {name: m["Car"] for name, m in metrics["ap"].items()}
    bev = {name: c["bev"]["moderate"] for name, c in car.items()}
    threed = {name: c["3d"]["moderate"] for name, c in car.items()}
    students = ("student, KD", "student, no KD")
    return {"teacher Car BEV AP|R40 (moderate) clearly above zero": bev["teacher"] >= 10.0,
            "teacher above both students (Car BEV and 3D, moderate)":
                all(bev["teacher"] > bev[s] and threed["teacher"] > threed[s] for s in students),
            "pseudo-LiDAR from true depth detects (teacher, Car BEV moderate > 0)":
                bev["teacher on true-depth pseudo-LiDAR"] > 0}
