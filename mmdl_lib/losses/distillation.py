"""Chapter 01's distillation losses (seed 000, stage 1).

- ``L_clip`` — InfoNCE between student image embeddings and teacher text embeddings, both
  directions. Region captions repeat ("a small red car" names many regions), so every image whose
  caption equals a text is a positive of that text: the target is uniform over the positives
  (multi-positive InfoNCE; with unique captions it is CLIP's loss exactly).
- ``L_sim`` — KL(teacher ‖ student) between the softmax distributions of image–text similarities
  at temperature ``T`` (similarity / relation distillation).
- ``L_cos`` — 1 − cos(student image, teacher image), the post-projection alignment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def multi_positive_info_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row of ``logits`` against a uniform target over its ``positives``."""
    target = positives.float() / positives.float().sum(dim=1, keepdim=True).clamp_min(1)
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, caption_ids: torch.Tensor,
              temperature: float) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE over a batch of (image, caption id) pairs.

    ``text_emb`` holds one row per batch item (its caption's embedding).
    """
    logits = image_emb @ text_emb.T / temperature
    positives = caption_ids[:, None] == caption_ids[None, :]
    return 0.5 * (multi_positive_info_nce(logits, positives) + multi_positive_info_nce(logits.T, positives.T))


class CaptionClipLoss:
    """``loss_fn(model, batch)`` for contrastive CLIP training on region crops and their captions
    (chapter 01's smoke teacher): :func:`clip_loss`, with each batch encoding its unique captions once.
    ``tokens`` are the tokenized captions, indexed by ``batch["caption"]``."""

    def __init__(self, tokens: torch.Tensor, temperature: float):
        self.tokens, self.temperature = tokens, temperature

    def __call__(self, model, batch: dict) -> dict[str, torch.Tensor]:
        ids = batch["caption"]
        unique, inverse = ids.unique(return_inverse=True)
        text = model.model.encode_text(self.tokens[unique.cpu()].to(ids.device), normalize=True)[inverse]
        return {"total": clip_loss(model.encode_image(batch["image"]), text, ids, self.temperature)}


def similarity_kd_loss(student_img: torch.Tensor, teacher_img: torch.Tensor, text_emb: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) of image→text similarity distributions, scaled by T² (Hinton et al.)."""
    teacher = F.log_softmax(teacher_img @ text_emb.T / temperature, dim=1)
    student = F.log_softmax(student_img @ text_emb.T / temperature, dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature**2


def cosine_loss(student_img: torch.Tensor, teacher_img: torch.Tensor) -> torch.Tensor:
    return (1 - F.cosine_similarity(student_img, teacher_img, dim=-1)).mean()


class DistillationLosses(nn.Module):
    """``L = w_clip·L_clip + w_sim·L_sim + w_cos·L_cos``; returns every term and the total."""

    def __init__(self, w_clip: float = 1.0, w_sim: float = 1.0, w_cos: float = 1.0, temperature: float = 0.07,
                 kd_temperature: float = 0.1):
        super().__init__()
        self.weights = {"clip": w_clip, "sim": w_sim, "cos": w_cos}
        self.temperature, self.kd_temperature = temperature, kd_temperature

    def forward(self, student_img: torch.Tensor, teacher_img: torch.Tensor, text_emb: torch.Tensor,
                caption_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {
            "clip": clip_loss(student_img, text_emb, caption_ids, self.temperature),
            "sim": similarity_kd_loss(student_img, teacher_img, text_emb, self.kd_temperature),
            "cos": cosine_loss(student_img, teacher_img),
        }
        terms["total"] = sum(self.weights[k] * v for k, v in terms.items())
        return terms
