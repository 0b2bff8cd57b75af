"""TDOS, text-driven OOD segmentation, as mmsegmentation modules (chapter 04, seed 003).

Registered in mmseg's ``MODELS`` on import, so the whole model is an mmseg config
(``mmdl_lib/openmmlab/configs/tdos_*.py``):

- ``CLIPVisionBackbone`` (:mod:`.clip_backbone`): frozen CLIP image tower → pyramid;
- ``TextMask2FormerHead``: mmseg's Mask2Former head (mmdet's pixel decoder and masked-attention
  transformer decoder) whose classifier is text: each query is projected into CLIP's joint space
  and scored by cosine similarity against the prompt embeddings of
  :class:`~.prompts.PromptTextClassifier`. Classes are the 19 in-distribution
  ones and one **OOD** class whose logit is the log-sum-exp over all OOD prompts (learnable
  negatives and WordNet concepts), then Mask2Former's "no object";
- ``TextDrivenOODSeg``: mmseg's encoder–decoder whose training step adds the OOD semantic
  augmentation: regions whose attention features are perturbed, labelled OOD.

Per-pixel scores come from the head's class-probability maps (:func:`anomaly_scores`): TDOS's own
(the mass on the OOD class) and, on the same model, the baselines max softmax probability, max
logit and entropy over the in-distribution classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...openmmlab.stack import setup

setup()

from mmengine.structures import PixelData  # noqa: E402  (after the stack is set up)
from mmseg.models.decode_heads import Mask2FormerHead  # noqa: E402
from mmseg.models.segmentors import EncoderDecoder  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402

from .clip_backbone import CLIPVisionBackbone
from .ood_augmentation import sample_ood_regions
from .prompts import PromptTextClassifier

SCORE_NAMES = ("tdos", "msp", "max_logit", "entropy")

if "CLIPVisionBackbone" not in MODELS.module_dict:
    MODELS.register_module(module=CLIPVisionBackbone)


@MODELS.register_module(force=True)
class TextMask2FormerHead(Mask2FormerHead):
    """Mask2Former with a text classifier: ``num_classes`` = in-distribution classes + 1 (OOD)."""

    def __init__(self, text_classifier: dict, logit_scale: float = 1 / 0.07, **kwargs):
        super().__init__(**kwargs)
        self.text_classifier = PromptTextClassifier(**text_classifier)
        if self.num_classes != len(self.text_classifier.class_names) + 1:
            raise ValueError(f"num_classes {self.num_classes} must be the {len(self.text_classifier.class_names)} "
                             "in-distribution classes + 1 OOD class")
        feat = self.cls_embed.in_features
        del self.cls_embed
        self.cls_proj = nn.Linear(feat, self.text_classifier.embed_dim)
        self.no_object = nn.Linear(feat, 1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(logit_scale)))
        self._text: tuple[torch.Tensor, torch.Tensor] | None = None

    def class_logits(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, Q, C) query features → (B, Q, classes + OOD + no-object) logits."""
        text_id, text_ood = self._text if self._text is not None else self.text_classifier()
        q = F.normalize(self.cls_proj(queries), dim=-1)
        scale = self.log_scale.exp().clamp(max=100)
        id_logits = scale * q @ text_id.T
        ood_logit = torch.logsumexp(scale * q @ text_ood.T, dim=-1, keepdim=True)
        return torch.cat([id_logits, ood_logit, self.no_object(queries)], dim=-1)

    def _forward_head(self, decoder_out, mask_feature, attn_mask_target_size):
        decoder_out = self.transformer_decoder.post_norm(decoder_out)
        cls_pred = self.class_logits(decoder_out)
        mask_pred = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoder_out), mask_feature)
        attn_mask = F.interpolate(mask_pred, attn_mask_target_size, mode="bilinear", align_corners=False)
        attn_mask = attn_mask.flatten(2).unsqueeze(1).repeat((1, self.num_heads, 1, 1)).flatten(0, 1)
        return cls_pred, mask_pred, (attn_mask.sigmoid() < 0.5).detach()

    def forward(self, x, batch_data_samples):
        self._text = self.text_classifier()  # once per forward, shared by every decoder layer
        try:
            return super().forward(x, batch_data_samples)
        finally:
            self._text = None


@MODELS.register_module(force=True)
class TextDrivenOODSeg(EncoderDecoder):
    """mmseg encoder–decoder with TDOS's OOD augmentation in training.

    ``ood_augmentation``: ``{"probability", "max_regions", "radius"}`` for
    :func:`~.ood_augmentation.sample_ood_regions`; ``None`` turns it off.
    ``finetune``: the seed's ``--finetune``: the model in eval mode (normalisation statistics fixed),
    and only the decoder and the prompts learn.
    """

    def __init__(self, ood_augmentation: dict | None = None, finetune: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.ood_augmentation = ood_augmentation
        self.finetune = finetune
        self.ood_index = self.decode_head.num_classes - 1
        self._generator: torch.Generator | None = None
        if finetune:
            for name, p in self.named_parameters():
                p.requires_grad_(p.requires_grad and name.startswith("decode_head."))
            self.backbone.pyramid.requires_grad_(False)

    def train(self, mode: bool = True) -> "TextDrivenOODSeg":
        # --finetune: the seed puts the whole model in eval mode (no dropout, fixed statistics)
        return super().train(mode and not self.finetune)

    def seed_augmentation(self, seed: int) -> None:
        self._generator = torch.Generator().manual_seed(seed)

    def loss(self, inputs, data_samples):
        token_mask = None
        if self.ood_augmentation is not None:
            labels = torch.stack([s.gt_sem_seg.data[0] for s in data_samples])
            pixels = sample_ood_regions(labels.cpu(), generator=self._generator, **self.ood_augmentation)
            token_mask = self.backbone.token_mask(pixels).to(inputs.device)
            region = F.interpolate(token_mask[:, None].float(), size=labels.shape[-2:], mode="nearest")[:, 0].bool()
            for sample, mask in zip(data_samples, region):
                label = sample.gt_sem_seg.data.clone()
                label[0][mask] = self.ood_index
                sample.gt_sem_seg = PixelData(data=label)
        x = self.backbone(inputs, token_mask, self._generator)
        if self.with_neck:
            x = self.neck(x)
        return self._decode_head_forward_train(x, data_samples)

    @torch.no_grad()
    def augmentation_example(self, inputs: torch.Tensor, label: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
        """What the augmentation does to one image (inputs (1, 3, H, W) normalised, label (H, W)):
        the region, the cosine of each perturbed token to its clean self, and the OOD share of the
        prediction from clean and from perturbed features."""
        generator = torch.Generator().manual_seed(seed)
        options = {**(self.ood_augmentation or {}), "probability": 1.0}
        pixels = sample_ood_regions(label[None].cpu(), generator=generator, **options)
        token_mask = self.backbone.token_mask(pixels).to(inputs.device)
        clean = self.backbone.tokens(inputs)
        perturbed = self.backbone.tokens(inputs, token_mask, generator)
        shape = tuple(inputs.shape[-2:])
        metas = [{"img_shape": shape, "ori_shape": shape, "pad_shape": shape}]
        share = {name: anomaly_scores(self.decode_head.predict(self.backbone.features(tokens), metas, self.test_cfg))
                 ["tdos"][0] for name, tokens in (("clean", clean), ("perturbed", perturbed))}
        region = F.interpolate(token_mask[:, None].float(), size=shape, mode="nearest")[0, 0]
        return {"region": region, "token_cosine": F.cosine_similarity(clean, perturbed, dim=1)[0],
                "ood_clean": share["clean"], "ood_perturbed": share["perturbed"]}


def anomaly_scores(probs: torch.Tensor, ood_index: int | None = None) -> dict[str, torch.Tensor]:
    """Per-pixel anomaly scores (higher = more anomalous) from the head's class maps (B, K+1, H, W),
    K in-distribution classes then OOD, each the mask-weighted class probability Σ_q p_q(c)·m_q(x):

    - ``tdos``: the OOD class's share of the pixel's class mass;
    - ``msp``: 1 − max softmax probability over the in-distribution classes (maps renormalised);
    - ``max_logit``: − the largest in-distribution class score (Mask2Former's maps as logits, as RbA);
    - ``entropy``: entropy of the renormalised in-distribution distribution.
    """
    ood_index = probs.shape[1] - 1 if ood_index is None else ood_index
    eps = 1e-8
    inside = probs[:, :ood_index]
    dist = inside / inside.sum(dim=1, keepdim=True).clamp_min(eps)
    return {
        "tdos": probs[:, ood_index] / probs.sum(dim=1).clamp_min(eps),
        "msp": 1 - dist.max(dim=1).values,
        "max_logit": -inside.max(dim=1).values,
        "entropy": -(dist * dist.clamp_min(eps).log()).sum(dim=1),
    }
