"""Chapter 02's box loss (seed 000, stage 2):
``L = w_l1·L1 + w_giou·(1 − GIoU) [+ w_attn·L_attn + w_dense·L_dense]``.

The first two terms compare the head's box with the ground truth. The transformer head also
returns its token scores and one box per token, which give two dense terms:

- ``L_attn``: cross-entropy of the token scores against the tokens whose centres fall inside the
  ground-truth box (and the one nearest its centre), which share the target mass;
- ``L_dense``: the same L1 + GIoU on the box of each of those tokens, weighted alike.

One box thus gives a label to every token it covers, which makes a small training set go further
(the one-stage grounding idea of FAOA, Yang et al. 2019, on a transformer head).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou_loss

from .model import token_centres


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


def box_terms(pred_cxcywh: torch.Tensor, target_xywh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-box L1 on normalised (cx, cy, w, h) and 1 − GIoU (torchvision); shapes (..., 4) → (...)."""
    target_cxcywh = box_convert(target_xywh, "xywh", "cxcywh")
    l1 = (pred_cxcywh - target_cxcywh).abs().sum(dim=-1)
    giou = generalized_box_iou_loss(box_convert(pred_cxcywh.reshape(-1, 4), "cxcywh", "xyxy"),
                                    box_convert(target_xywh.reshape(-1, 4), "xywh", "xyxy"), reduction="none")
    return l1, giou.reshape(l1.shape)


class Talk2CarLoss(nn.Module):
    """L1 + GIoU on the predicted box, plus the optional dense terms; returns each term and the total.

    ``output`` is the head's dict (``box`` (B, 4) as cx, cy, w, h; optionally ``attention`` and
    ``token_boxes``) or just the box tensor; ``target_xywh`` is (B, 4) normalised ``[x, y, w, h]``.
    """

    def __init__(self, w_l1: float = 5.0, w_giou: float = 2.0, w_attn: float = 0.0, w_dense: float = 0.0):
        super().__init__()
        self.w_l1, self.w_giou, self.w_attn, self.w_dense = w_l1, w_giou, w_attn, w_dense

    def forward(self, output: dict[str, torch.Tensor] | torch.Tensor,
                target_xywh: torch.Tensor) -> dict[str, torch.Tensor]:
        output = output if isinstance(output, dict) else {"box": output}
        l1, giou = box_terms(output["box"].float(), target_xywh)
        terms = {"l1": l1.mean(), "giou": giou.mean()}
        total = self.w_l1 * terms["l1"] + self.w_giou * terms["giou"]
        attention = output.get("attention")
        if attention is not None and (self.w_attn > 0 or self.w_dense > 0):
            target = attention_target(target_xywh, *attention.shape[1:])
            if self.w_attn > 0:
                terms["attn"] = -(target * torch.log(attention.flatten(1).float().clamp_min(1e-8))).sum(dim=1).mean()
                total = total + self.w_attn * terms["attn"]
            if self.w_dense > 0 and "token_boxes" in output:
                token_boxes = output["token_boxes"].float()
                dense_l1, dense_giou = box_terms(token_boxes, target_xywh[:, None].expand_as(token_boxes))
                terms["dense"] = (target * (self.w_l1 * dense_l1 + self.w_giou * dense_giou)).sum(dim=1).mean()
                total = total + self.w_dense * terms["dense"]
        terms["total"] = total
        return terms


def grounding_loss(criterion: Talk2CarLoss):
    """The engine's ``loss_fn(model, batch)`` for a Talk2Car model: cached maps (``features`` +
    ``image_index``) when the encoder is frozen, images otherwise."""

    def loss_fn(model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        if "features" in batch:
            output = model.forward_features(batch["features"], batch["text"], batch.get("image_index"))
        else:
            output = model.forward_features(model.encode(batch["image"]), batch["text"], batch.get("image_index"))
        return criterion(output, batch["box"])

    return loss_fn
