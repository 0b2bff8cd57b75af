"""Frozen vision-language features and light heads on them (chapter 06, approach 3; seed 004).

Features are extracted once per image set and model, cached, and a linear or MLP head is trained
on them: a fraction of fine-tuning's cost. Backends:

- ``"clip"``: an open_clip image tower's normalised embedding (the seed's CLIP ViT-B/32 in full;
  chapter 01's teacher in smoke);
- ``"qwen2_5_vl"``: Qwen2.5-VL's vision tower (transformers), its merged patch tokens mean-pooled.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from ...cache import cache_key, cached_folder
from ...engine.inference import batched_outputs
from ...models.teacher import CLIPTeacher
from ...synth import WORLD_VERSION

HeadKind = Literal["linear", "mlp"]


class QwenVisionFeatures(nn.Module):
    """Mean-pooled Qwen2.5-VL vision-tower tokens of images in [0, 1] (its own processor resizes them)."""

    def __init__(self, model: nn.Module, image_processor):
        super().__init__()
        self.model, self.image_processor = model, image_processor

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        arrays = [(image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8) for image in images]
        inputs = self.image_processor(images=arrays, return_tensors="pt")
        device = next(self.model.parameters()).device
        out = self.model.get_image_features(inputs["pixel_values"].to(device), inputs["image_grid_thw"].to(device))
        return torch.stack([tokens.float().mean(dim=0) for tokens in out.pooler_output])


def build_feature_extractor(backend: str, clip: CLIPTeacher, vlm_source: str | None, device: torch.device,
                            max_image_pixels: int | None = None, vlm_identity: dict | None = None):
    """The feature function of ``backend`` and what identifies it (for the feature cache).

    ``vlm_source`` is the Qwen2.5-VL checkpoint (a hub name or a folder) and ``vlm_identity`` what
    it is (name, weights) for the cache and the record; images are resized within
    ``max_image_pixels`` as for the QLoRA model.
    """
    if backend == "clip":
        return clip.encode_image, {"backend": "clip", "model": clip.name}
    if backend == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration

        from .qlora_vlm import load_vlm_processor

        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # a CPU computes bf16 3x slower
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(vlm_source, dtype=dtype, device_map={"": str(device)})
        image_processor = load_vlm_processor(vlm_source, max_image_pixels).image_processor
        identity = {"backend": "qwen2_5_vl", "model": vlm_source, **(vlm_identity or {}),
                    "max_image_pixels": max_image_pixels}
        return QwenVisionFeatures(model.eval(), image_processor), identity
    raise ValueError(f"feature backend must be 'clip' or 'qwen2_5_vl', got {backend!r}")


def cached_features(extract, identity: dict, sets: dict, parts: tuple[str, ...], device: torch.device,
                    num_workers: int = 0) -> tuple[dict[str, torch.Tensor], bool]:
    """``extract`` over each image set in ``parts``, computed once per ``identity`` (the model and its
    weights) and file list, then read from the cache; also whether they were computed now."""

    files = {part: [str(p) for p in sets[part].paths] for part in parts}
    key = cache_key({**identity, "world": WORLD_VERSION, "files": files, "size": sets[parts[0]].size})

    def build(folder) -> None:
        for part in parts:
            features = batched_outputs(lambda b: extract(b["image"]), sets[part], device, 64, num_workers,
                                       desc=f"features {part}")
            np.save(folder / f"{part}.npy", features.numpy())

    folder, built = cached_folder("car_features", key, build)
    return {part: torch.from_numpy(np.load(folder / f"{part}.npy")) for part in parts}, built


def build_feature_head(kind: HeadKind, dim: int, n_classes: int, hidden: int = 512, dropout: float = 0.2) -> nn.Module:
    """A linear head, or a one-hidden-layer MLP, on standardised features."""
    if kind == "linear":
        return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, n_classes))
    if kind == "mlp":
        return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                             nn.Linear(hidden, n_classes))
    raise ValueError(f"head must be 'linear' or 'mlp', got {kind!r}")


class FeatureRows(torch.utils.data.Dataset):
    """Cached features and labels as ``{"feature", "label"}`` items for the training engine."""

    def __init__(self, features: torch.Tensor, labels: np.ndarray):
        self.features, self.labels = features.float(), torch.as_tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"feature": self.features[index], "label": self.labels[index]}
