"""Vision-token compression by progressive strided 2D convolutions (chapter 05, seed 002).

A CLIP ViT's patch tokens form a grid (24×24 for ViT-L/14 at 336 px). Neighbouring tokens
describe neighbouring image regions, so a convolution over the grid can merge them where a
token-dropping or token-merging method would ignore the layout. :class:`TokenCompressor` reduces
the grid to ``output_grid`` × ``output_grid`` in ``num_layers`` steps: the reduction factor is split
into strides (24 → 6 is 4 = 2·2, done as two stride-2 layers and one stride-1 refinement), each
layer a pre-norm strided convolution whose kernel equals its stride, so compressed token (i, j)
is assigned exactly the block of input tokens :func:`block_slices` names, its *receptive field*
(a stride-1 layer's 3×3 kernel adds one token of context around it). With ``use_residual`` the
average-pooled grid is added to the output, so at initialisation the compressor is average
pooling and training learns what to keep beyond the block mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


def reduction_factor(input_grid: int, output_grid: int) -> int:
    """How many input tokens per side each compressed token covers; the grids must divide."""
    if output_grid <= 0 or input_grid % output_grid:
        valid = [g for g in range(1, input_grid + 1) if input_grid % g == 0]
        raise ConfigError(f"output_grid_size {output_grid} does not divide the encoder's {input_grid}×{input_grid} "
                          f"token grid; choose one of {valid}")
    return input_grid // output_grid


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


def layer_strides(input_grid: int, output_grid: int, num_layers: int) -> list[int]:
    """Strides of the ``num_layers`` layers, largest first, whose product is the reduction factor.

    Prime factors are dealt to the layers greedily (the smallest product so far gets the next
    largest factor), so 24 → 4 in three layers is [3, 2, 1] and 24 → 12 is [2, 1, 1].
    """
    factor = reduction_factor(input_grid, output_grid)
    if num_layers < 1:
        raise ConfigError(f"num_layers must be at least 1, got {num_layers}")
    strides = [1] * num_layers
    for p in sorted(_prime_factors(factor), reverse=True):
        strides[strides.index(min(strides))] *= p
    return sorted(strides, reverse=True)


def block_slices(output_grid: int, input_grid: int, i: int, j: int) -> tuple[slice, slice]:
    """Rows and columns of the input tokens that compressed token (i, j) summarises and reconstructs."""
    r = reduction_factor(input_grid, output_grid)
    return slice(i * r, (i + 1) * r), slice(j * r, (j + 1) * r)


def blocks_to_grid(blocks: torch.Tensor, output_grid: int) -> torch.Tensor:
    """(B, m·m, r·r, D) per-block tokens, blocks and tokens in row-major order → (B, D, m·r, m·r)."""
    b, n, rr, d = blocks.shape
    r = int(round(rr ** 0.5))
    grid = blocks.reshape(b, output_grid, output_grid, r, r, d)
    return grid.permute(0, 5, 1, 3, 2, 4).reshape(b, d, output_grid * r, output_grid * r)


def grid_to_blocks(grid: torch.Tensor, output_grid: int) -> torch.Tensor:
    """The inverse of :func:`blocks_to_grid`: (B, D, G, G) → (B, m·m, r·r, D)."""
    b, d, g, _ = grid.shape
    r = reduction_factor(g, output_grid)
    blocks = grid.reshape(b, d, output_grid, r, output_grid, r).permute(0, 2, 4, 3, 5, 1)
    return blocks.reshape(b, output_grid * output_grid, r * r, d)


class _ChannelNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) grid: each token normalised as a ViT does."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class TokenCompressor(nn.Module):
    """(B, D, G, G) tokens → (B, D, m, m) tokens in the same space, m = ``output_grid``."""

    def __init__(self, dim: int, input_grid: int, output_grid: int = 6, num_layers: int = 3,
                 use_residual: bool = True, hidden_dim: int | None = None):
        super().__init__()
        self.dim, self.input_grid, self.output_grid = dim, input_grid, output_grid
        self.strides = layer_strides(input_grid, output_grid, num_layers)
        self.use_residual = use_residual
        hidden = hidden_dim or dim
        layers: list[nn.Module] = []
        for index, stride in enumerate(self.strides):
            c_in = dim if index == 0 else hidden
            c_out = dim if index == len(self.strides) - 1 else hidden
            conv = (nn.Conv2d(c_in, c_out, kernel_size=stride, stride=stride) if stride > 1
                    else nn.Conv2d(c_in, c_out, kernel_size=3, padding=1))
            layers += [_ChannelNorm(c_in), conv]
            if index < len(self.strides) - 1:
                layers.append(nn.GELU())
        self.layers = nn.Sequential(*layers)
        if use_residual:  # start as average pooling: the last convolution's output is zero at first
            nn.init.zeros_(self.layers[-1].weight)
            nn.init.zeros_(self.layers[-1].bias)

    @property
    def ratio(self) -> float:
        return (self.input_grid / self.output_grid) ** 2

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] != self.input_grid or tokens.shape[-2] != self.input_grid:
            raise ConfigError(f"the compressor was built for a {self.input_grid}×{self.input_grid} token grid, "
                              f"got {tuple(tokens.shape[-2:])}")
        out = self.layers(tokens)
        if self.use_residual:
            out = out + F.adaptive_avg_pool2d(tokens, self.output_grid)
        return out


def average_pool_tokens(tokens: torch.Tensor, output_grid: int) -> torch.Tensor:
    """The baseline: each block of tokens replaced by its mean (same token count as the compressor)."""
    reduction_factor(tokens.shape[-1], output_grid)
    return F.adaptive_avg_pool2d(tokens, output_grid)


def nearest_upsample(tokens: torch.Tensor, input_grid: int) -> torch.Tensor:
    """Average pooling's reconstruction: every token of a block is the block's token."""
    return F.interpolate(tokens, size=(input_grid, input_grid), mode="nearest")
