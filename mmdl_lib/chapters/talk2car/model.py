"""Grounding heads and the Talk2Car model (chapter 02, seed 000 stage 2).

- :class:`TransformerGroundingHead` (recommended): the command's embedding is the query of a
  transformer decoder whose keys and values are the image feature tokens plus 2D sine positional
  encodings; the decoded query scores every token and each token regresses a box (cx, cy, w, h)
  in 0–1 around itself. The answer is the box of the best-scoring token.
- :class:`ProjectionGroundingHead` (baseline): pooled image features and the text embedding,
  concatenated into an MLP. Pooling throws away *where*, which is the point of the comparison.

Both take feature maps of *distinct* images plus ``image_index`` (command → row of the maps), so
the several commands about one image share its encoding. :func:`predict` and
:func:`token_scores` run a trained model over cached maps; :func:`save_grounding` /
:func:`load_grounding` keep the head beside chapter 01's encoder; :class:`ViTGroundingModel` is the
un-distilled alternative whose cost the chapter compares against.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...engine.checkpoint import load_weights, save_weights
from ...errors import MMDLError
from ...io import read_json, write_json
from ...metrics.boxes import cxcywh_to_xywh
from ...models.student import load_student


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


def token_centres(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(H·W, 2) centres (x, y) of the feature-map cells, in 0–1 image coordinates."""
    ys = (torch.arange(height, device=device).float() + 0.5) / height
    xs = (torch.arange(width, device=device).float() + 0.5) / width
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)


def _per_command(features: torch.Tensor, image_index: torch.Tensor | None) -> torch.Tensor:
    return features if image_index is None else features[image_index]


class TransformerGroundingHead(nn.Module):
    """Text query → transformer decoder over image tokens → the box of the best-matching token.

    1. The feature map is projected to ``d_model`` tokens with 2D sine positional encodings and
       contextualised by ``num_encoder_layers`` self-attention layers (once per image: this part
       does not depend on the command).
    2. The command modulates every token (FiLM: a per-channel scale and shift from the text), then
       queries them through a ``num_layers``-layer transformer decoder.
    3. The decoded query scores every token (a softmax over the H·W cells: *which* object), and
       every token regresses a box around itself (*where exactly*): its centre within two cells of
       the token, its size in 0–1.

    ``forward`` returns ``box`` — the attention-weighted mean of the token boxes while training
    (differentiable), the best-scoring token's box in eval mode (as a detector picks its top
    detection) — plus ``attention`` (B, H, W) and ``token_boxes`` (B, H·W, 4) for the loss.
    """

    def __init__(self, in_channels: int, text_dim: int, d_model: int = 128, nhead: int = 4, num_layers: int = 2,
                 num_encoder_layers: int = 1, dim_feedforward: int = 256, dropout: float = 0.0):
        super().__init__()
        self.input_proj = nn.Sequential(nn.Conv2d(in_channels, d_model, 1), nn.GroupNorm(1, d_model))
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True),
            num_encoder_layers, enable_nested_tensor=False) if num_encoder_layers else None
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d_model), nn.LayerNorm(d_model))
        self.film = nn.Linear(d_model, 2 * d_model)
        layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.score_query = nn.Linear(d_model, d_model)
        self.score_key = nn.Linear(d_model, d_model)
        # the box MLP sees [token, decoded query]; its first layer is split so the query's half is
        # computed once per command rather than once per token
        self.box_token = nn.Linear(d_model, d_model)
        self.box_query = nn.Linear(d_model, d_model, bias=False)
        self.box_out = nn.Sequential(nn.GELU(), nn.Linear(d_model, 4))
        self.d_model = d_model

    def encode_image(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) maps → (N, H·W, d) tokens; the command-independent part."""
        _, _, h, w = features.shape
        tokens = self.input_proj(features).flatten(2).transpose(1, 2)
        tokens = tokens + sine_positional_encoding_2d(h, w, self.d_model, features.device)[None]
        return self.encoder(tokens) if self.encoder is not None else tokens

    def forward(self, features: torch.Tensor, text: torch.Tensor,
                image_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        _, _, h, w = features.shape
        memory = _per_command(self.encode_image(features), image_index)  # (B, H·W, d)
        query = self.text_proj(text)
        scale, shift = self.film(query).chunk(2, dim=-1)
        memory = memory * (1 + scale[:, None]) + shift[:, None]
        decoded = self.decoder(query[:, None], memory)[:, 0]  # the command asks "where?"
        scores = torch.einsum("bd,bnd->bn", self.score_query(decoded), self.score_key(memory)) / self.d_model**0.5
        attention = scores.softmax(dim=1)
        raw = self.box_out(self.box_token(memory) + self.box_query(decoded)[:, None])
        cell = torch.tensor([1.0 / w, 1.0 / h], device=features.device)
        centres = (token_centres(h, w, features.device)[None] + torch.tanh(raw[..., :2]) * 2 * cell).clamp(0, 1)
        token_boxes = torch.cat([centres, raw[..., 2:].sigmoid()], dim=-1)
        if self.training:
            box = (attention[..., None] * token_boxes).sum(dim=1)
        else:
            best = attention.argmax(dim=1)[:, None, None].expand(-1, 1, token_boxes.shape[-1])
            box = token_boxes.gather(1, best)[:, 0]  # gather, not len(): the ONNX graph keeps a dynamic batch
        return {"box": box, "attention": attention.reshape(-1, h, w), "token_boxes": token_boxes}


class ProjectionGroundingHead(nn.Module):
    def __init__(self, in_channels: int, text_dim: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels + text_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 4))

    def forward(self, features: torch.Tensor, text: torch.Tensor,
                image_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        pooled = _per_command(features.mean(dim=(2, 3)), image_index)
        return {"box": self.mlp(torch.cat([pooled, text], dim=1)).sigmoid()}


HEADS = {"transformer": TransformerGroundingHead, "projection": ProjectionGroundingHead}


class Talk2CarModel(nn.Module):
    """Distilled encoder (its stride-16 pyramid map, no pooling) + a grounding head.

    ``forward(images, text_emb)`` predicts (cx, cy, w, h) in 0–1 for one command per image. With
    a frozen encoder the chapter caches the maps and calls :meth:`forward_features`, which also
    takes ``image_index`` (command → map row) and returns the head's full output.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, freeze_encoder: bool = True):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            for p in encoder.parameters():
                p.requires_grad_(False)

    def unfreeze(self, end_to_end: bool, lr: float, encoder_lr_mult: float) -> list[dict]:
        """Set what trains for a fine-tune (chapter 02) and return the optimiser's parameter groups:
        the head at ``lr``, and end to end the encoder too at ``lr × encoder_lr_mult``."""
        self.freeze_encoder = not end_to_end
        self.encoder.requires_grad_(end_to_end)
        groups = [{"params": list(self.head.parameters()), "lr": lr}]
        if end_to_end:
            groups.append({"params": list(self.encoder.parameters()), "lr": lr * encoder_lr_mult})
        return groups

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            self.encoder.eval()
            with torch.no_grad():
                return self.encoder.forward_pyramid(images)
        return self.encoder.forward_pyramid(images)

    def forward_features(self, features: torch.Tensor, text_emb: torch.Tensor,
                         image_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.head(features.float(), text_emb, image_index)

    def forward(self, images: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self.forward_features(self.encode(images), text_emb)["box"]


def build_head(kind: str, in_channels: int, text_dim: int, **kwargs) -> nn.Module:
    if kind not in HEADS:
        raise ValueError(f"unknown grounding head {kind!r}; choose one of {sorted(HEADS)}")
    return HEADS[kind](in_channels, text_dim, **kwargs)


def head_kwargs(config: dict, kind: str) -> dict:
    """The transformer head's sizes from a chapter-02 config (``Talk2CarConfig.to_dict()``)."""
    if kind != "transformer":
        return {}
    return {"d_model": config["d_model"], "num_layers": config["num_layers"],
            "num_encoder_layers": config.get("num_encoder_layers", 1)}


def _forward_commands(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
                      device: torch.device) -> dict[str, torch.Tensor]:
    """The head's output for these commands, each distinct image's map sent (and encoded) once."""
    rows, inverse = torch.unique(torch.as_tensor(image_index), return_inverse=True)
    return model.forward_features(features[rows].to(device), text.to(device), inverse.to(device))


@torch.no_grad()
def predict(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
            device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """Predicted boxes ``[x, y, w, h]`` (normalised to 0–1) of the commands ``text`` describes;
    ``image_index[i]`` is the row of ``features`` holding command ``i``'s image."""
    model.eval().to(device)
    out = [_forward_commands(model, features, image_index[i:i + batch_size], text[i:i + batch_size], device)["box"]
           for i in range(0, len(text), batch_size)]
    return cxcywh_to_xywh(torch.cat(out).float().cpu())


@torch.no_grad()
def token_scores(model: Talk2CarModel, features: torch.Tensor, image_index: np.ndarray, text: torch.Tensor,
                 device: torch.device) -> torch.Tensor:
    """(N, H, W) softmax of the transformer head over the tokens, for the commands in ``text``."""
    model.eval().to(device)
    output = _forward_commands(model, features, image_index, text, device)
    if "attention" not in output:
        raise MMDLError(f"the {type(model.head).__name__} has no token scores (only the transformer head does)")
    return output["attention"].cpu()


def save_grounding(folder: Path, model: Talk2CarModel, config: dict, encoder_folder: Path, text_dim: int) -> Path:
    """``head.safetensors`` + ``grounding_config.json`` (the chapter config and chapter 01's encoder
    folder); a fine-tuned encoder's own weights as ``encoder.safetensors``."""
    save_weights(model.head, folder / "head.safetensors")
    if not model.freeze_encoder:
        save_weights(model.encoder, folder / "encoder.safetensors")
    write_json(folder / "grounding_config.json", {"config": config, "encoder": str(encoder_folder),
                                                  "text_dim": text_dim,
                                                  "encoder_finetuned": not model.freeze_encoder})
    return folder


def load_grounding(folder: Path) -> tuple[Talk2CarModel, dict]:
    """A saved grounding model: chapter 01's encoder (from its folder; its fine-tuned weights when the
    grounding model was trained end to end) + the head."""

    meta = read_json(folder / "grounding_config.json")
    encoder, _ = load_student(meta["encoder"])
    if meta.get("encoder_finetuned"):
        load_weights(encoder, folder / "encoder.safetensors")
    cfg = meta["config"]
    head = build_head(cfg["head"], encoder.pyramid_channels, meta["text_dim"], **head_kwargs(cfg, cfg["head"]))
    load_weights(head, folder / "head.safetensors")
    return Talk2CarModel(encoder, head), meta


class ViTGroundingModel(nn.Module):
    """A CLIP ViT image tower whose patch tokens, as a map, feed a grounding head: what grounding on
    an un-distilled CLIP costs (chapter 02 measures it, it is not trained)."""

    def __init__(self, vit: nn.Module, head: nn.Module):
        super().__init__()
        self.vit, self.head = vit, head
        self.vit.output_tokens = True

    def forward(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        _, tokens = self.vit(images)
        side = int(tokens.shape[1] ** 0.5)
        return self.head(tokens.transpose(1, 2).reshape(tokens.shape[0], -1, side, side), text)["box"]
