"""A frozen CLIP vision encoder that returns its patch-token grid (chapter 05).

Two backends behind one interface, :class:`CLIPTokenEncoder`:

- ``transformers`` (full profile): any CLIP by name, default ``openai/clip-vit-large-patch14-336``
  (336 px → 24×24 = 576 patch tokens of width 1024). Without weights (the CPU rehearsal) the same
  architecture is built from :data:`KNOWN_ARCHITECTURES`, randomly initialised.
- ``open_clip`` (smoke profile): chapter 01's locally trained teacher. Its ViT was trained at 48 px
  (a 6×6 grid); its position embeddings are resized so that a larger input gives a grid on which
  every compression setting of the chapter means something (192 px → 24×24).

Tokens are the hidden states of ``feature_layer`` without the class token, as (B, width, G, G).
:meth:`CLIPTokenEncoder.token_embeddings` maps tokens into the joint image–text space the way
MaskCLIP reads dense CLIP features (final layer norm, then the projection, token by token), so a
set of tokens, full or compressed, can be classified zero-shot with the text tower.
"""

from __future__ import annotations

import copy

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...models.teacher import CLIPTeacher
from ...synth.language import class_prompt_ensemble

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Architectures of CLIPs the book names, for building them without a download (random weights).
KNOWN_ARCHITECTURES = {
    "openai/clip-vit-large-patch14-336": {
        "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                          "num_attention_heads": 16, "image_size": 336, "patch_size": 14},
        "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                        "num_attention_heads": 12},
        "projection_dim": 768,
    },
}


def resized_position_embedding(embedding: torch.Tensor, grid: int) -> torch.Tensor:
    """(1 + g·g, width) class + patch position embeddings, patch part resized bicubically to grid×grid."""
    cls_pos, patch_pos = embedding[:1], embedding[1:]
    old = int(round(patch_pos.shape[0] ** 0.5))
    if old * old != patch_pos.shape[0]:
        raise ConfigError(f"position embedding of {patch_pos.shape[0]} patches is not a square grid")
    patch_pos = patch_pos.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    patch_pos = F.interpolate(patch_pos, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([cls_pos, patch_pos.permute(0, 2, 3, 1).reshape(grid * grid, -1)])


def _projected(output) -> torch.Tensor:
    """transformers ≥ 5 returns the projected embedding as ``pooler_output``; earlier versions a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class CLIPTokenEncoder(nn.Module):
    """Frozen CLIP: images in [0, 1] → patch tokens (B, width, G, G); text → joint-space embeddings."""

    def __init__(self, backend: str, model: nn.Module, image_size: int, patch_size: int, feature_layer: int,
                 mean: tuple[float, ...], std: tuple[float, ...], name: str):
        super().__init__()
        if image_size % patch_size:
            raise ConfigError(f"image_size {image_size} is not a multiple of the patch size {patch_size}")
        self.backend, self.model, self.name = backend, model, name
        self.image_size, self.patch_size, self.feature_layer = image_size, patch_size, feature_layer
        self.tokenizer = open_clip.get_tokenizer("ViT-L-14-336" if backend == "transformers" else name)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_transformers(cls, name: str, pretrained: bool = True, feature_layer: int = -1,
                          image_size: int | None = None) -> "CLIPTokenEncoder":
        """``transformers.CLIPModel`` by name (weights from the hub), or its architecture at random."""
        from transformers import CLIPConfig, CLIPModel

        if pretrained:
            model = CLIPModel.from_pretrained(name)
        elif name in KNOWN_ARCHITECTURES:
            model = CLIPModel(CLIPConfig(**copy.deepcopy(KNOWN_ARCHITECTURES[name])))
        else:
            raise ConfigError(f"no weights requested for {name!r} and its architecture is not one of "
                              f"{sorted(KNOWN_ARCHITECTURES)}: set encoder_pretrained=True or name a known CLIP")
        vision = model.config.vision_config
        size = image_size or vision.image_size
        if size != vision.image_size:
            raise ConfigError(f"{name} expects {vision.image_size} px images, got image_size {size}")
        return cls("transformers", model, size, vision.patch_size, feature_layer, CLIP_MEAN, CLIP_STD, name)

    @classmethod
    def from_open_clip(cls, teacher: CLIPTeacher, image_size: int, feature_layer: int = -1) -> "CLIPTokenEncoder":
        """An open_clip model (chapter 01's teacher) with position embeddings resized to ``image_size``."""
        model = copy.deepcopy(teacher.model)
        visual = model.visual
        patch = visual.patch_size[0]
        if image_size % patch:
            raise ConfigError(f"image_size {image_size} is not a multiple of the patch size {patch}")
        grid = image_size // patch
        visual.positional_embedding = nn.Parameter(resized_position_embedding(visual.positional_embedding.data, grid))
        visual.grid_size, visual.image_size = (grid, grid), (image_size, image_size)
        return cls("open_clip", model, image_size, patch, feature_layer, tuple(teacher.mean.flatten().tolist()),
                   tuple(teacher.std.flatten().tolist()), teacher.name)

    @property
    def image_tower(self) -> nn.Module:
        """The vision transformer alone (what runs per image; the text tower is not counted)."""
        return self.model.vision_model if self.backend == "transformers" else self.model.visual

    # --- shapes -------------------------------------------------------------------------------
    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def width(self) -> int:
        if self.backend == "transformers":
            return int(self.model.config.vision_config.hidden_size)
        return int(self.model.visual.conv1.out_channels)

    # --- images → tokens ----------------------------------------------------------------------
    def _pixels(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return (images - self.mean) / self.std

    @torch.no_grad()
    def encode_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens of ``feature_layer`` as (B, width, G, G), class token dropped."""
        pixels = self._pixels(images)
        b = pixels.shape[0]
        if self.backend == "transformers":
            out = self.model.vision_model(pixel_values=pixels, output_hidden_states=True)
            tokens = out.hidden_states[self.feature_layer][:, 1:]
            return tokens.transpose(1, 2).reshape(b, -1, self.grid, self.grid)
        depth = len(self.model.visual.transformer.resblocks)
        index = self.feature_layer % depth
        out = self.model.visual.forward_intermediates(pixels, indices=[index], intermediates_only=True)
        return out["image_intermediates"][0]

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """The model's own image embedding (class token), normalised: the reference for zero-shot."""
        pixels = self._pixels(images)
        if self.backend == "transformers":
            return F.normalize(_projected(self.model.get_image_features(pixel_values=pixels)), dim=-1)
        return F.normalize(self.model.encode_image(pixels), dim=-1)

    # --- tokens and text in the joint space -----------------------------------------------------
    def token_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean over a token grid (B, width, h, w) of each token's joint-space embedding, normalised."""
        flat = tokens.flatten(2).transpose(1, 2)
        if self.backend == "transformers":
            vision = self.model.vision_model
            joint = self.model.visual_projection(vision.post_layernorm(flat))
        else:
            visual = self.model.visual
            joint = visual.ln_post(flat) @ visual.proj
        return F.normalize(joint.mean(dim=1), dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Normalised text embeddings. Both backends use open_clip's tokenizer: the OpenAI CLIP BPE
        vocabulary, padded with 0 after the end token, which transformers' CLIP text model reads the same."""
        ids = self.tokenizer(texts).to(self.mean.device)
        if self.backend == "transformers":
            return F.normalize(_projected(self.model.get_text_features(input_ids=ids)), dim=-1)
        return F.normalize(self.model.encode_text(ids), dim=-1)

    def class_embeddings(self, prompts: dict[str, list[str]]) -> torch.Tensor:
        """One normalised embedding per class: the mean embedding of its prompts (a prompt ensemble)."""
        return F.normalize(torch.stack([self.encode_text(p).mean(0) for p in prompts.values()]), dim=-1)

    def class_name_embeddings(self, classes: list[str], world_phrases: bool) -> torch.Tensor:
        """Class embeddings from the synthetic world's own phrases (``world_phrases``: chapter 01's smoke
        teacher learnt those), or from "a photo of a …" (chapter 05)."""

        if world_phrases:
            return self.class_embeddings({c: class_prompt_ensemble(c) for c in classes})
        return self.class_embeddings({c: [f"a photo of a {c}."] for c in classes})
