"""Chapter 06 · VLM car-model classification: CLIP, CNN + sentence fusion, frozen features, QLoRA (seed 004)."""

from .config import CONFIG, CarClassificationConfig, smoke_checks

__all__ = ["CONFIG", "CarClassificationConfig", "smoke_checks"]
