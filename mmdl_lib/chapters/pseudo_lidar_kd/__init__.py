"""Chapter 03 · pseudo-LiDAR knowledge distillation for KITTI 3D detection (seed 001)."""

from .config import CONFIG, PseudoLidarKDConfig, smoke_checks

__all__ = ["CONFIG", "PseudoLidarKDConfig", "smoke_checks"]
