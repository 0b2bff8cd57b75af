"""WGAN-GP critics on token distributions (chapter 05, seed 002).

The compressor's tokens should still look like CLIP tokens to whatever reads them next (a VLM's
projector). A critic scores a token grid (B, D, h, w) → (B,), the mean of per-token scores, so
grids of any size are compared: original tokens are the real samples, compressed tokens the fake
ones. No batch normalisation: the gradient penalty needs each sample's score to depend on that
sample only.

- :class:`TokenCritic`: an MLP applied to every token (1×1 convolutions), the marginal distribution.
- :class:`MultiScaleTokenCritic` (the seed's optional multi-scale discriminator): 3×3-convolution
  heads on the grid average-pooled by 1, 2 and 4, so neighbourhoods are judged as well as tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _head(dim: int, hidden: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(dim, hidden, kernel, padding=kernel // 2), nn.LeakyReLU(0.2),
                         nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(0.2), nn.Conv2d(hidden, 1, 1))


class TokenCritic(nn.Module):
    def __init__(self, dim: int, hidden_dim: int = 256):
        super().__init__()
        self.head = _head(dim, hidden_dim, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(tokens).mean(dim=(1, 2, 3))


class MultiScaleTokenCritic(nn.Module):
    def __init__(self, dim: int, hidden_dim: int = 256, scales: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.scales = scales
        self.heads = nn.ModuleList(_head(dim, hidden_dim, 3) for _ in scales)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        score = tokens.new_zeros(tokens.shape[0])
        for scale, head in zip(self.scales, self.heads):
            pooled = tokens if scale == 1 else F.avg_pool2d(tokens, scale, ceil_mode=True)
            score = score + head(pooled).mean(dim=(1, 2, 3))
        return score


def build_critic(kind: str, dim: int, hidden_dim: int = 256) -> nn.Module:
    """``"single"`` or ``"multiscale"`` (the seed's ``use_multiscale_discriminator``)."""
    if kind == "single":
        return TokenCritic(dim, hidden_dim)
    if kind == "multiscale":
        return MultiScaleTokenCritic(dim, hidden_dim)
    raise ValueError(f"critic must be 'single' or 'multiscale', got {kind!r}")
