"""Chapter 05 · CLIP vision-token compression: 2D-conv compressor, WGAN-GP critic, autoencoder (seed 002)."""

from .config import CONFIG, TokenCompressionConfig, smoke_checks

__all__ = ["CONFIG", "TokenCompressionConfig", "smoke_checks"]
