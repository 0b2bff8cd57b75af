"""Chapter 02's box loss (seed 000, stage 2): ``L = w_l1·L1 + w_giou·(1 − GIoU) [+ w_attn·L_attn]``.

``L_attn`` is an optional dense supervision of the transformer head's token attention: the
tokens whose centres fall inside the ground-truth box (and the one nearest its centre) share the
target mass. One box gives a label to every token, which makes a small training set go further.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou_loss

from ..models.grounding import token_centres


def attention_target(boxes_xywh: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H·W) distribution over tokens: uniform over the cells whose centre lies in the box."""
    centres = token_centres(height, width, boxes_xywh.device)
    x, y, w, h = boxes_xywh.unbind(dim=1)
    inside = ((centres[None, :, 0] >= x[:, None]) & (centres[None, :, 0] <= (x + w)[:, None])
              & (centres[None, :, 1] >= y[:, None]) & (centres[None, :, 1] <= (y + h)[:, None])).float()
    centre = torch.stack([x + w / 2, y + h / 2], dim=1)
    nearest = ((centres[None] - centre[:, None]) ** 2).sum(-1).argmin(dim=1)
    inside[torch.arange(len(boxes_xywh), device=boxes_xywh.device), nearest] = 1.0
    return inside / inside.sum(dim=1, keepdim=True)


class Talk2CarLoss(nn.Module):
    """L1 on normalised (cx, cy, w, h) plus torchvision's GIoU loss; returns each term and the total."""

    def __init__(self, w_l1: float = 5.0, w_giou: float = 2.0, w_attn: float = 0.0):
        super().__init__()
        self.w_l1, self.w_giou, self.w_attn = w_l1, w_giou, w_attn

    def forward(self, pred_cxcywh: torch.Tensor, target_xywh: torch.Tensor,
                attention: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        target_cxcywh = box_convert(target_xywh, "xywh", "cxcywh")
        l1 = (pred_cxcywh - target_cxcywh).abs().sum(dim=1).mean()
        giou = generalized_box_iou_loss(box_convert(pred_cxcywh, "cxcywh", "xyxy"),
                                        box_convert(target_xywh, "xywh", "xyxy"), reduction="mean")
        terms = {"l1": l1, "giou": giou}
        total = self.w_l1 * l1 + self.w_giou * giou
        if attention is not None and self.w_attn > 0:
            target = attention_target(target_xywh, *attention.shape[1:])
            terms["attn"] = -(target * torch.log(attention.flatten(1).clamp_min(1e-8))).sum(dim=1).mean()
            total = total + self.w_attn * terms["attn"]
        terms["total"] = total
        return terms
