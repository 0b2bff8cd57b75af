"""A CLIP image tower as a dense backbone for segmentation (chapter 04, TDOS).

:class:`CLIPVisionBackbone` runs an open_clip ViT on a rectangular image (its position embeddings
resized to the patch grid), frozen by default, and turns the last layer's patch tokens into the
four-level pyramid (strides 4, 8, 16, 32) that Mask2Former's pixel decoder reads, the way ViTDet's
simple feature pyramid does: transposed convolutions up, max-pooling down. Only the pyramid
learns unless ``frozen=False``.

During training, :meth:`CLIPVisionBackbone.forward` can perturb the self-attention of one block
inside a token mask (:mod:`.ood_augmentation`): TDOS's OOD augmentation.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...models.teacher import CLIPTeacher
from .ood_augmentation import perturb_attention_features, shuffled_value_attention


def resized_grid_embedding(embedding: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(1 + g·g, width) class + square-grid position embeddings → (1 + gh·gw, width), bicubic."""
    cls_pos, patch_pos = embedding[:1], embedding[1:]
    side = int(round(math.sqrt(patch_pos.shape[0])))
    if side * side != patch_pos.shape[0]:
        raise ConfigError(f"position embedding of {patch_pos.shape[0]} patches is not a square grid")
    if (side, side) == tuple(grid):
        return embedding
    patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch_pos = F.interpolate(patch_pos, size=grid, mode="bicubic", align_corners=False)
    return torch.cat([cls_pos, patch_pos.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1)])


def _pyramid_level(width: int, channels: int, factor: float) -> nn.Sequential:
    """Resample stride-``patch`` tokens by ``factor`` (2, 4: up; 1/2, 1/4: down), then project."""
    layers: list[nn.Module] = []
    if factor >= 2:
        for i in range(int(round(math.log2(factor)))):
            if i:
                layers += [nn.GroupNorm(1, width), nn.GELU()]
            layers.append(nn.ConvTranspose2d(width, width, 2, stride=2))
    elif factor < 1:
        layers.append(nn.MaxPool2d(int(round(1 / factor))))
    groups = math.gcd(32, channels)
    layers += [nn.Conv2d(width, channels, 1), nn.GroupNorm(groups, channels),
               nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(groups, channels)]
    return nn.Sequential(*layers)


class CLIPVisionBackbone(nn.Module):
    """Frozen open_clip ViT → multi-scale features for mmseg's decode heads.

    ``clip``: ``{"name", "pretrained", "weights"}`` as :class:`~mmdl_lib.models.teacher.CLIPTeacher`
    takes them (an open_clip name with a pretrained tag, or a safetensors file such as chapter 01's
    teacher). Inputs are normalised by the segmentor's data preprocessor with CLIP's mean and std.
    """

    def __init__(self, clip: dict, out_channels: Sequence[int] = (64, 128, 256, 512),
                 strides: Sequence[int] = (4, 8, 16, 32), frozen: bool = True, perturb_layer: int = -1,
                 perturb_strength: float = 1.0):
        super().__init__()
        teacher = CLIPTeacher(clip["name"], clip.get("pretrained"), weights=clip.get("weights"))
        self.visual = teacher.model.visual
        self.patch = int(self.visual.conv1.kernel_size[0])
        self.width = int(self.visual.conv1.out_channels)
        self.frozen, self.perturb_strength = frozen, perturb_strength
        self.perturb_layer = perturb_layer % len(self.visual.transformer.resblocks)
        if frozen:
            for p in self.visual.parameters():
                p.requires_grad_(False)
        self.pyramid = nn.ModuleList(_pyramid_level(self.width, c, self.patch / s) for c, s in zip(out_channels, strides))

    def train(self, mode: bool = True) -> "CLIPVisionBackbone":
        super().train(mode)
        if self.frozen:
            self.visual.eval()
        return self

    def token_grid(self, height: int, width: int) -> tuple[int, int]:
        if height % self.patch or width % self.patch:
            raise ConfigError(f"input {height}×{width} is not a multiple of the CLIP patch size {self.patch}")
        return height // self.patch, width // self.patch

    def token_mask(self, pixel_mask: torch.Tensor) -> torch.Tensor:
        """A pixel mask (B, H, W) → the patch tokens (B, gh, gw) that are mostly inside it."""
        grid = self.token_grid(*pixel_mask.shape[-2:])
        return F.adaptive_avg_pool2d(pixel_mask[:, None].float(), grid)[:, 0] >= 0.5

    def tokens(self, images: torch.Tensor, token_mask: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Last-layer patch tokens (B, width, gh, gw); inside ``token_mask`` the attention sub-block's
        output of block ``perturb_layer`` is replaced by OOD prototypes: the tokens' own queries over
        the image's keys, reading the values of shuffled tokens, then perturbed channel-wise."""
        gh, gw = self.token_grid(*images.shape[-2:])
        visual = self.visual
        x = visual.conv1(images).flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + resized_grid_embedding(visual.positional_embedding, (gh, gw)).to(x.dtype)
        x = visual.ln_pre(x)
        for index, block in enumerate(visual.transformer.resblocks):
            if token_mask is None or index != self.perturb_layer:
                x = block(x)
                continue
            # the attention sub-block's output features (residual stream after attention), whose
            # attention read shuffled values inside the region, then varied further
            normed = block.ln_1(x)
            attended = x + block.ls_1(block.attention(q_x=normed))
            mixed = x + block.ls_1(shuffled_value_attention(block.attn, normed, generator))
            patches, flat = attended[:, 1:], token_mask.flatten(1)
            patches = patches.masked_scatter(flat[..., None], perturb_attention_features(
                mixed[:, 1:][flat], self.perturb_strength, generator))
            x = torch.cat([attended[:, :1], patches], dim=1)
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], self.width, gh, gw)

    def forward(self, images: torch.Tensor, token_mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            tokens = self.tokens(images, token_mask, generator)
        return self.features(tokens)

    def features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The pyramid from patch tokens (B, width, gh, gw)."""
        return tuple(level(tokens) for level in self.pyramid)
