"""Autoencoder decoders: compressed tokens → the original tokens of each one's block (chapter 05).

Compressed token (i, j) stands for the r×r block of original tokens that
:func:`~.compressor.block_slices` names (its receptive field); a decoder
rebuilds that block from it, with a little context from the neighbouring compressed tokens. Both
decoders add their output to the block token copied r×r times (average pooling's reconstruction),
so they learn what the block mean misses.

- :class:`ConvTokenDecoder`: a k×k convolution over the compressed grid (k = 1: the block token
  alone), then a 1×1 convolution to r·r tokens per position, laid out by pixel shuffle.
- :class:`AttentionTokenDecoder` (the seed's ``use_attention``): every original position asks a
  query, its learned in-block position plus its block token, over all compressed tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .compressor import nearest_upsample, reduction_factor


class ConvTokenDecoder(nn.Module):
    def __init__(self, dim: int, input_grid: int, output_grid: int, hidden_dim: int | None = None,
                 context_kernel: int = 3):
        super().__init__()
        self.input_grid, self.output_grid = input_grid, output_grid
        self.r = reduction_factor(input_grid, output_grid)
        hidden = hidden_dim or dim
        self.context = nn.Sequential(nn.Conv2d(dim, hidden, context_kernel, padding=context_kernel // 2), nn.GELU())
        self.expand = nn.Conv2d(hidden, dim * self.r * self.r, kernel_size=1)
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def forward(self, compressed: torch.Tensor) -> torch.Tensor:
        detail = F.pixel_shuffle(self.expand(self.context(compressed)), self.r)
        return nearest_upsample(compressed, self.input_grid) + detail


class AttentionTokenDecoder(nn.Module):
    def __init__(self, dim: int, input_grid: int, output_grid: int, hidden_dim: int = 256, heads: int = 4):
        super().__init__()
        self.input_grid, self.output_grid = input_grid, output_grid
        self.r = reduction_factor(input_grid, output_grid)
        self.block_query = nn.Parameter(torch.randn(self.r * self.r, hidden_dim) * 0.02)  # position in the block
        self.key_position = nn.Parameter(torch.randn(output_grid * output_grid, hidden_dim) * 0.02)
        self.to_query = nn.Linear(dim, hidden_dim)
        self.to_key = nn.Linear(dim, hidden_dim)
        self.attention = nn.MultiheadAttention(hidden_dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, compressed: torch.Tensor) -> torch.Tensor:
        b, d, m, _ = compressed.shape
        base = nearest_upsample(compressed, self.input_grid)  # (B, D, G, G): each position's block token
        g, r = self.input_grid, self.r
        # the in-block position (a, b) of original token (i·r + a, j·r + b), tiled over the grid
        position = self.block_query.reshape(r, r, -1).repeat(m, m, 1).reshape(g * g, -1)
        queries = self.to_query(base.flatten(2).transpose(1, 2)) + position
        keys = self.to_key(compressed.flatten(2).transpose(1, 2)) + self.key_position
        attended, _ = self.attention(queries, keys, keys, need_weights=False)
        detail = self.out(self.norm(attended + queries))
        return base + detail.transpose(1, 2).reshape(b, d, g, g)


def build_decoder(kind: str, dim: int, input_grid: int, output_grid: int, hidden_dim: int | None = None) -> nn.Module:
    """``"conv"`` or ``"attention"`` (the seed's ``model.autoencoder.use_attention``)."""
    if kind == "conv":
        return ConvTokenDecoder(dim, input_grid, output_grid, hidden_dim)
    if kind == "attention":
        return AttentionTokenDecoder(dim, input_grid, output_grid, hidden_dim or 256)
    raise ValueError(f"decoder must be 'conv' or 'attention', got {kind!r}")
