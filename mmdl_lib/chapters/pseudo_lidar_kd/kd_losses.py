"""Distillation losses for a 3D detector (chapter 03, seed 001): feature KD through a projection
and logit KD on the anchor head's outputs, weighted against the detection loss.

The seed's total is ``Det·L_det + Feat·L_feat + Logit·L_logit`` with the weights of two phases:
1.0 / 2.0 / 1.0 first, then 3.0 / 1.5 / 1.5 once the student had stopped detecting (:data:`SEED_PHASES`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KDWeights:
    det: float = 1.0
    feat: float = 2.0
    logit: float = 1.0

    @classmethod
    def of(cls, values: "KDWeights | list[float] | tuple[float, ...]") -> "KDWeights":
        return values if isinstance(values, KDWeights) else cls(*map(float, values))


SEED_PHASES = (KDWeights(1.0, 2.0, 1.0), KDWeights(3.0, 1.5, 1.5))


def feature_kd_loss(projected: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared error between the student's projected bird's-eye features and the teacher's."""
    return sum(F.mse_loss(s, t.detach()) for s, t in zip(projected, teacher)) / len(teacher)


def logit_kd_loss(student: tuple[list[torch.Tensor], ...], teacher: tuple[list[torch.Tensor], ...],
                  num_classes: int, temperature: float = 1.0) -> torch.Tensor:
    """Logit KD on an anchor head's ``(cls_scores, bbox_preds, …)`` (sigmoid classifier):

    - classification: binary cross-entropy of the student's logits against the teacher's
      probabilities at temperature ``T`` (× T², Hinton's scaling), over every anchor and class;
    - boxes: smooth-L1 between the student's and the teacher's box deltas, each anchor weighted by
      the teacher's confidence (its highest class probability), so that the teacher's views of the
      objects, not of the empty road, are what the regression copies.
    """
    loss = torch.zeros((), device=student[0][0].device)
    for s_cls, t_cls, s_box, t_box in zip(student[0], teacher[0], student[1], teacher[1]):
        target = torch.sigmoid(t_cls.detach() / temperature)
        loss = loss + F.binary_cross_entropy_with_logits(s_cls / temperature, target) * temperature ** 2
        batch, _, height, width = t_cls.shape
        confidence = torch.sigmoid(t_cls.detach()).view(batch, -1, num_classes, height, width).amax(dim=2)
        anchors = confidence.shape[1]
        box_error = F.smooth_l1_loss(s_box.view(batch, anchors, -1, height, width),
                                     t_box.detach().view(batch, anchors, -1, height, width),
                                     reduction="none", beta=1 / 9).sum(dim=2)
        loss = loss + (box_error * confidence).sum() / confidence.sum().clamp(min=1e-6)
    return loss / len(student[0])
