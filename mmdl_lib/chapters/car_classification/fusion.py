"""CNN + sentence-embedding fusion for car models (chapter 06, approach 2; seed 004).

A timm CNN (EfficientNet) gives an image feature ``f``. Two heads read it: a linear classifier
(visual class vectors ``W_c``) and a projection ``g(f)`` into the space of a frozen sentence
encoder, where each class is the embedding ``T_c`` of its name. The seed fused the two
by concatenation or by weighting:

- ``"weighted"``: ``α·(classifier logits) + (1 − α)·(text logits)``, text logits = cos(g(f), T_c)/τ;
- ``"concat"``: cos([f̂, ĝ(f)], [Ŵ_c, T̂_c])/τ — the concatenated visual and text embeddings of
  the image against those of each class.

Training minimises the cross-entropy of the fused logits and of both heads alone, so either head
also works by itself (``α`` = 1 or 0 at inference is the ablation).
"""

from __future__ import annotations

from typing import Literal

import timm
import torch
import torch.nn.functional as F
from torch import nn

Fusion = Literal["weighted", "concat"]


class TextFusionClassifier(nn.Module):
    def __init__(self, backbone: str, class_text: torch.Tensor, fusion: Fusion = "weighted", alpha: float = 0.5,
                 temperature: float = 0.07, pretrained: bool = False, drop_rate: float = 0.2):
        super().__init__()
        if fusion not in ("weighted", "concat"):
            raise ValueError(f"fusion must be 'weighted' or 'concat', got {fusion!r}")
        self.backbone = timm.create_model(backbone, pretrained=pretrained, num_classes=0, drop_rate=drop_rate)
        width = self.backbone.num_features
        self.classifier = nn.Linear(width, len(class_text))
        self.project = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, class_text.shape[1]))
        self.register_buffer("class_text", F.normalize(class_text.float(), dim=-1))
        self.fusion, self.alpha, self.temperature = fusion, alpha, temperature
        config = self.backbone.pretrained_cfg
        self.register_buffer("mean", torch.tensor(config.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1))

    def heads(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classifier logits, text logits and the fused logits of a batch of images in [0, 1]."""
        feature = self.backbone((images - self.mean) / self.std)
        visual = self.classifier(feature)
        projected = F.normalize(self.project(feature), dim=-1)
        text = projected @ self.class_text.T / self.temperature
        if self.fusion == "weighted":
            fused = self.alpha * visual + (1 - self.alpha) * text
        else:
            query = torch.cat([F.normalize(feature, dim=-1), projected], dim=-1) / 2**0.5
            keys = torch.cat([F.normalize(self.classifier.weight, dim=-1), self.class_text], dim=-1) / 2**0.5
            fused = query @ keys.T / self.temperature
        return {"visual": visual, "text": text, "fused": fused}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.heads(images)["fused"]

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        heads = self.heads(images)
        terms = {f"ce_{name}": F.cross_entropy(logits, labels, label_smoothing=0.1) for name, logits in heads.items()}
        return {**terms, "total": sum(terms.values())}
