"""Learnable text prompts through a frozen CLIP text encoder (chapter 04, TDOS).

:class:`PromptTextClassifier` gives one joint-space embedding per class, used as the classifier
weights of the segmentation head:

- **in-distribution classes** (the 19 of Cityscapes): CoOp's learnable context — ``n_ctx`` vectors
  shared by all classes — followed by the class name's own token embeddings;
- **OOD prompts**: ``learnable_cls_num`` negative prompts whose name is one learnable token each
  (TDOS's default is 50), and the distance-based concepts from WordNet
  (:mod:`.ood_concepts`) after the same shared context.

The text encoder is open_clip's, frozen: gradients reach only the context and the learnable names.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...models.teacher import CLIPTeacher

PLACEHOLDER = "X"


class PromptTextClassifier(nn.Module):
    def __init__(self, clip: dict, class_names: Sequence[str], n_ctx: int = 8, learnable_cls_num: int = 50,
                 ood_concepts: Sequence[str] = (), ctx_std: float = 0.02):
        super().__init__()
        teacher = CLIPTeacher(clip["name"], clip.get("pretrained"), weights=clip.get("weights"))
        model = teacher.model
        self.token_embedding, self.positional_embedding = model.token_embedding, model.positional_embedding
        self.transformer, self.ln_final, self.text_projection = model.transformer, model.ln_final, model.text_projection
        self.register_buffer("attn_mask", model.attn_mask, persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.tokenizer = teacher.tokenizer
        self.class_names, self.ood_concepts = list(class_names), list(ood_concepts)
        self.n_ctx, self.learnable_cls_num = n_ctx, learnable_cls_num
        width = self.token_embedding.embedding_dim
        self.context = nn.Parameter(ctx_std * torch.randn(n_ctx, width))
        self.negative_names = nn.Parameter(ctx_std * torch.randn(learnable_cls_num, 1, width))
        context = " ".join([PLACEHOLDER] * n_ctx)
        self.register_buffer("named_ids", self.tokenizer(
            [f"{context} {name}." for name in self.class_names + self.ood_concepts]), persistent=False)
        self.register_buffer("negative_ids", self.tokenizer(
            [f"{context} {PLACEHOLDER}." for _ in range(learnable_cls_num)]), persistent=False)

    @property
    def num_ood_prompts(self) -> int:
        return len(self.ood_concepts) + self.learnable_cls_num

    @property
    def embed_dim(self) -> int:
        projection = self.text_projection
        return int(projection.shape[1] if isinstance(projection, torch.Tensor) else projection.out_features)

    def train(self, mode: bool = True) -> "PromptTextClassifier":
        super().train(mode)
        self.transformer.eval()  # frozen: no dropout
        return self

    def _encode(self, ids: torch.Tensor, names: torch.Tensor | None = None) -> torch.Tensor:
        x = self.token_embedding(ids)
        context = self.context.expand(len(ids), -1, -1)
        parts = [x[:, :1], context]
        if names is None:
            parts.append(x[:, 1 + self.n_ctx:])
        else:  # the learnable name token replaces the placeholder after the context
            parts += [names, x[:, 2 + self.n_ctx:]]
        x = torch.cat(parts, dim=1) + self.positional_embedding
        x = self.ln_final(self.transformer(x, attn_mask=self.attn_mask))
        x = x[torch.arange(len(ids)), ids.argmax(dim=-1)]  # the end-of-text token has the largest id
        x = self.text_projection(x) if isinstance(self.text_projection, nn.Linear) else x @ self.text_projection
        return F.normalize(x, dim=-1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised embeddings: (num in-distribution classes, D) and (num OOD prompts, D)."""
        named = self._encode(self.named_ids)
        k = len(self.class_names)
        ood = [named[k:]]
        if self.learnable_cls_num:
            ood.append(self._encode(self.negative_ids, self.negative_names))
        return named[:k], torch.cat(ood)
