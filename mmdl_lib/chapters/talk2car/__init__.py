"""Chapter 02 · Talk2Car grounding: a command and a camera image → the referred object's box (seed 000, stage 2)."""

from .config import CONFIG, Talk2CarConfig, smoke_checks

__all__ = ["CONFIG", "Talk2CarConfig", "smoke_checks"]
