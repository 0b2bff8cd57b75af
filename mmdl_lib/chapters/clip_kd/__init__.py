"""Chapter 01 · CLIP → ConvNeXt knowledge distillation on region crops (seed 000, stage 1)."""

from .config import CONFIG, ClipKDConfig, smoke_checks

__all__ = ["CONFIG", "ClipKDConfig", "smoke_checks"]
