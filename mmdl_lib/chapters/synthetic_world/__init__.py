"""Chapter 00 · the synthetic driving world, written in every dataset format the book reads."""

from .config import CONFIG, SyntheticWorldConfig, smoke_checks

__all__ = ["CONFIG", "SyntheticWorldConfig", "smoke_checks"]
