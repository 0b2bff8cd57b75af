"""Grounding heads and the Talk2Car model (chapter 02, seed 000 stage 2).

- :class:`TransformerGroundingHead` (recommended): the command's embedding is the query of a
  transformer decoder whose keys and values are the image feature tokens plus 2D sine positional
  encodings; the decoded query regresses the box (cx, cy, w, h) in 0–1.
- :class:`ProjectionGroundingHead` (baseline): pooled image features and the text embedding,
  concatenated into an MLP. Pooling throws away *where*, which is the point of the comparison.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sine_positional_encoding_2d(height: int, width: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(H·W, dim) DETR-style encoding: half the channels encode y, half x, at geometric frequencies."""
    if dim % 4:
        raise ValueError(f"positional encoding dim must be divisible by 4, got {dim}")
    quarter = dim // 4
    freq = torch.exp(torch.arange(quarter, device=device) * (-math.log(10000.0) / quarter))
    ys = (torch.arange(height, device=device).float() + 0.5) / height * 2 * math.pi
    xs = (torch.arange(width, device=device).float() + 0.5) / width * 2 * math.pi
    y = ys[:, None] * freq[None, :]
    x = xs[:, None] * freq[None, :]
    pe_y = torch.cat([y.sin(), y.cos()], dim=1)[:, None, :].expand(height, width, 2 * quarter)
    pe_x = torch.cat([x.sin(), x.cos()], dim=1)[None, :, :].expand(height, width, 2 * quarter)
    return torch.cat([pe_y, pe_x], dim=2).reshape(height * width, dim)


def _box_mlp(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 4))


def token_centres(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(H·W, 2) centres (x, y) of the feature-map cells, in 0–1 image coordinates."""
    ys = (torch.arange(height, device=device).float() + 0.5) / height
    xs = (torch.arange(width, device=device).float() + 0.5) / width
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)


class TransformerGroundingHead(nn.Module):
    """Text query → transformer decoder over image tokens → box.

    After decoding, the query scores every image token; the box centre is anchored at the
    softmax-weighted mean of the token centres (where the command points) and refined by an MLP,
    which also predicts the size from the query and the attended features. The anchor gives the
    head a direct path from "which token matches" to "where is the box", so it learns from a few
    thousand commands.
    """

    def __init__(self, in_channels: int, text_dim: int, d_model: int = 128, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1):
        super().__init__()
        self.input_proj = nn.Sequential(nn.Conv2d(in_channels, d_model, 1), nn.GroupNorm(1, d_model))
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d_model), nn.LayerNorm(d_model))
        layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.score_query = nn.Linear(d_model, d_model)
        self.score_key = nn.Linear(d_model, d_model)
        self.box = _box_mlp(2 * d_model, d_model)
        self.d_model = d_model

    def forward(self, features: torch.Tensor, text: torch.Tensor, return_attention: bool = False):
        _, _, h, w = features.shape
        memory = self.input_proj(features).flatten(2).transpose(1, 2)  # (B, H·W, d)
        memory = memory + sine_positional_encoding_2d(h, w, self.d_model, features.device)[None]
        query = self.text_proj(text)[:, None, :]  # (B, 1, d): the command asks "where?"
        decoded = self.decoder(query, memory)[:, 0]
        scores = torch.einsum("bd,bnd->bn", self.score_query(decoded), self.score_key(memory)) / self.d_model**0.5
        attention = scores.softmax(dim=1)
        anchor = attention @ token_centres(h, w, features.device)  # (B, 2)
        attended = torch.einsum("bn,bnd->bd", attention, memory)
        delta = self.box(torch.cat([decoded, attended], dim=1))
        cell = torch.tensor([1.0 / w, 1.0 / h], device=features.device)
        centre = (anchor + torch.tanh(delta[:, :2]) * 2 * cell).clamp(0, 1)
        box = torch.cat([centre, delta[:, 2:].sigmoid()], dim=1)
        return (box, attention.reshape(-1, h, w)) if return_attention else box


class ProjectionGroundingHead(nn.Module):
    def __init__(self, in_channels: int, text_dim: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels + text_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 4))

    def forward(self, features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3))
        return self.mlp(torch.cat([pooled, text], dim=1)).sigmoid()


HEADS = {"transformer": TransformerGroundingHead, "projection": ProjectionGroundingHead}


class Talk2CarModel(nn.Module):
    """Distilled encoder (its H×W map, no pooling) + a grounding head.

    ``forward(images, text_emb)`` predicts (cx, cy, w, h) in 0–1. With a frozen encoder the
    chapter caches the maps and calls :meth:`forward_features` directly.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, freeze_encoder: bool = True):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            for p in encoder.parameters():
                p.requires_grad_(False)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            self.encoder.eval()
            with torch.no_grad():
                return self.encoder.forward_map(images)
        return self.encoder.forward_map(images)

    def forward_features(self, features: torch.Tensor, text_emb: torch.Tensor, return_attention: bool = False):
        if return_attention and isinstance(self.head, TransformerGroundingHead):
            return self.head(features.float(), text_emb, return_attention=True)
        box = self.head(features.float(), text_emb)
        return (box, None) if return_attention else box

    def forward(self, images: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.encode(images), text_emb)


def build_head(kind: str, in_channels: int, text_dim: int, **kwargs) -> nn.Module:
    if kind not in HEADS:
        raise ValueError(f"unknown grounding head {kind!r}; choose one of {sorted(HEADS)}")
    return HEADS[kind](in_channels, text_dim, **kwargs)
