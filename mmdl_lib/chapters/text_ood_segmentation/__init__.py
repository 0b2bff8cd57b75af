"""Chapter 04 · text-driven OOD segmentation, TDOS (seed 003)."""

from .config import CONFIG, TextOODSegConfig, smoke_checks

__all__ = ["CONFIG", "TextOODSegConfig", "smoke_checks"]
