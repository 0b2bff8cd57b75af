"""Teacher → student distillation between two MVX-Nets (chapter 03, seed 001).

The teacher sees the image and the real LiDAR scan, the student the image and pseudo-LiDAR; both
are the same architecture and the student starts from the teacher's weights, as in the seed. A
student compared with its teacher directly, feature for feature, can satisfy the feature loss by
staying the teacher (its starting point) instead of learning what pseudo-LiDAR needs; the seed's
fix is a **1D convolution** (a learned linear map per bird's-eye cell, ``Conv1d`` with kernel 1
over the flattened grid) that projects the student's features into the teacher's space, so the
student keeps its own space and the projection carries the correspondence.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ...errors import MMDLError
from ...progress import tqdm
from .frames import collate_samples
from .kd_losses import KDWeights, feature_kd_loss, logit_kd_loss


class FeatureProjector(nn.Module):
    """``Conv1d(kernel 1)`` from the student's channels to the teacher's, applied to each (B, C, H, W)
    map flattened to (B, C, H·W); initialised as the identity when the widths agree."""

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__()
        self.conv = nn.Conv1d(student_channels, teacher_channels, kernel_size=1)
        if student_channels == teacher_channels:
            with torch.no_grad():
                self.conv.weight.copy_(torch.eye(teacher_channels)[:, :, None])
                self.conv.bias.zero_()

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = feature.shape
        return self.conv(feature.flatten(2)).view(batch, -1, height, width)


def bev_channels(detector: nn.Module) -> int:
    """Channels of the bird's-eye features that reach the detector's anchor head."""
    return detector.pts_bbox_head.in_channels


def head_outputs(detector: nn.Module, batch: dict, img_feats: list[torch.Tensor] | None = None):
    """(image features, bird's-eye features, anchor head outputs) of a preprocessed batch;
    ``img_feats`` given → the image branch is not run (a frozen branch's cached output)."""
    metas = [s.metainfo for s in batch["data_samples"]]
    inputs = batch["inputs"]
    if img_feats is None:
        img_feats = detector.extract_img_feat(inputs.get("imgs"), metas)
    else:
        for meta in metas:  # what extract_img_feat records for PointFusion
            meta.update(input_shape=inputs["imgs"].shape[-2:])
    pts_feats = detector.extract_pts_feat(inputs.get("voxels"), points=inputs.get("points"), img_feats=img_feats,
                                          batch_input_metas=metas)
    return img_feats, pts_feats, detector.pts_bbox_head(pts_feats)


def detection_loss(detector: nn.Module, batch: dict, outputs: tuple[list[torch.Tensor], ...]) -> dict[str, torch.Tensor]:
    """The anchor head's own losses (focal classification, smooth-L1 boxes, direction) on ``outputs``."""
    metas = [s.metainfo for s in batch["data_samples"]]
    gts = [s.gt_instances_3d for s in batch["data_samples"]]
    losses = detector.pts_bbox_head.loss_by_feat(*outputs, gts, metas)
    return {name: sum(v) if isinstance(v, (list, tuple)) else v for name, v in losses.items()}


class PseudoLidarKD(nn.Module):
    """A student MVX-Net trained with ``weights.det·L_det + weights.feat·L_feat + weights.logit·L_logit``
    against a frozen teacher. ``projection`` False compares features directly (the seed's worry).

    ``freeze_image_branch`` (default) keeps the student's image backbone and neck at the teacher's
    weights: both see the same image, so the image features are computed once per frame (by
    :meth:`cache_teacher`) and only the point branch, which meets pseudo-LiDAR, is fine-tuned.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module | None = None, projection: bool = True,
                 temperature: float = 1.0, freeze_image_branch: bool = True):
        super().__init__()
        self.student = student if student is not None else copy.deepcopy(teacher)
        for p in self.student.parameters():
            p.requires_grad_(True)  # a copy of the frozen teacher starts frozen too
        self.teacher = teacher
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.freeze_image_branch = freeze_image_branch
        if freeze_image_branch:
            for p in self.image_branch(self.student).parameters():
                p.requires_grad_(False)
        channels = (bev_channels(self.student), bev_channels(self.teacher))
        self.projector = FeatureProjector(*channels) if projection else nn.Identity()
        self.temperature = temperature
        self.weights = KDWeights()
        self.teacher_outputs: dict[str, tuple] = {}  # frame → the teacher's features and head outputs

    def fresh_student(self) -> "PseudoLidarKD":
        """Another KD module on the same frozen teacher, with a new copy of the teacher as its student,
        the same projection kind, temperature and image-branch freezing, sharing this module's cached
        teacher outputs (chapter 03 trains one per KD variant and seed)."""
        kd = PseudoLidarKD(self.teacher, projection=isinstance(self.projector, FeatureProjector),
                           temperature=self.temperature, freeze_image_branch=self.freeze_image_branch)
        kd.teacher_outputs = self.teacher_outputs
        return kd

    @staticmethod
    def image_branch(detector: nn.Module) -> nn.ModuleList:
        return nn.ModuleList([m for m in (getattr(detector, "img_backbone", None), getattr(detector, "img_neck", None))
                              if m is not None])

    def train(self, mode: bool = True) -> "PseudoLidarKD":
        super().train(mode)
        self.teacher.eval()  # frozen: its batch-norm statistics stay the teacher's
        if self.freeze_image_branch:
            self.image_branch(self.student).eval()
        return self

    @torch.no_grad()
    def cache_teacher(self, teacher_samples: list[dict], batch_size: int = 8) -> None:
        """Run the frozen teacher once over its samples (image + real LiDAR) and keep its bird's-eye
        features and head outputs per frame: every student epoch and KD variant reuses them."""
        self.teacher.eval()
        for start in tqdm(range(0, len(teacher_samples), batch_size), desc="teacher outputs"):
            chunk = teacher_samples[start:start + batch_size]
            data = self.teacher.data_preprocessor(collate_samples(chunk), False)
            img_feats, feats, outs = head_outputs(self.teacher, data)
            for i, sample in enumerate(chunk):
                self.teacher_outputs[sample["data_sample"].metainfo["sample_idx"]] = (
                    [f[i].cpu() for f in feats], tuple([level[i].cpu() for level in kind] for kind in outs),
                    [f[i].cpu() for f in img_feats])

    def _teacher_batch(self, keys: list[str], device: torch.device):
        missing = [k for k in keys if k not in self.teacher_outputs]
        if missing:
            raise MMDLError(f"no teacher outputs for frames {missing[:5]}: call cache_teacher on the teacher's "
                            "samples of the same frames first")
        feats, outs, images = self.teacher_outputs[keys[0]]

        def stack(pick, n):
            return [torch.stack([pick(self.teacher_outputs[k])[level] for k in keys]).to(device) for level in range(n)]
        return (stack(lambda t: t[0], len(feats)),
                tuple(stack(lambda t, kind=kind: t[1][kind], len(outs[kind])) for kind in range(len(outs))),
                stack(lambda t: t[2], len(images)))

    def terms(self, student_batch: dict) -> dict[str, torch.Tensor]:
        """Every loss term and the weighted ``total`` for a raw student batch (image + pseudo-LiDAR);
        the teacher's outputs for the same frames come from :meth:`cache_teacher`."""
        s_batch = self.student.data_preprocessor(student_batch, True)
        keys = [s.metainfo["sample_idx"] for s in s_batch["data_samples"]]
        w = self.weights
        cached = self._teacher_batch(keys, s_batch["inputs"]["imgs"].device) if (
            w.feat or w.logit or self.freeze_image_branch) else None
        _, s_feats, s_out = head_outputs(self.student, s_batch, cached[2] if self.freeze_image_branch else None)
        det = detection_loss(self.student, s_batch, s_out)
        terms = {"det": sum(det.values())}
        if w.feat or w.logit:
            t_feats, t_out, _ = cached
            terms["feat"] = feature_kd_loss([self.projector(f) for f in s_feats], t_feats)
            terms["logit"] = logit_kd_loss(s_out, t_out, self.student.pts_bbox_head.num_classes, self.temperature)
        terms["total"] = w.det * terms["det"] + w.feat * terms.get("feat", 0.0) + w.logit * terms.get("logit", 0.0)
        return terms
