"""CLIP on region crops (chapter 01): embeddings of every region, the frozen teacher's offline
distillation targets, and the contrastive training of the smoke teacher on regions and captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.coco_regions import COCORegionTextDataset, PlainRegionCrops
from ..losses.distillation import CaptionClipLoss
from ..metrics.retrieval import region_retrieval_report
from ..models.teacher import CLIPTeacher
from ..models.text import TeacherTextEncoder
from .inference import batched_outputs
from .trainer import fit, one_cycle_adamw


def embed_regions(encode, dataset: COCORegionTextDataset, device: torch.device, batch_size: int = 256,
                  num_workers: int = 0) -> torch.Tensor:
    """Embeddings of every region (no augmentation), in dataset order, on the CPU."""
    return batched_outputs(encode, PlainRegionCrops(dataset), device, batch_size, num_workers, desc="embed regions")


@dataclass
class TeacherTargets:
    train_image: torch.Tensor  # teacher image embedding of every training region
    train_text: torch.Tensor  # teacher text embedding of every training caption
    val_image: torch.Tensor
    val_text: torch.Tensor


def teacher_targets(teacher: CLIPTeacher, train: COCORegionTextDataset, val: COCORegionTextDataset,
                    device: torch.device) -> TeacherTargets:
    """The frozen teacher's embeddings, computed once on un-augmented crops (offline distillation)."""
    text = TeacherTextEncoder(teacher)
    return TeacherTargets(embed_regions(teacher.encode_image, train, device), text.encode(train.captions),
                          embed_regions(teacher.encode_image, val, device), text.encode(val.captions))


def train_region_clip(teacher: CLIPTeacher, train: COCORegionTextDataset, val: COCORegionTextDataset, epochs: int,
                      lr: float, batch_size: int, temperature: float, device: torch.device, seed: int = 0,
                      checkpoint_dir: Path | None = None) -> list[dict[str, float]]:
    """Contrastive training of ``teacher`` on region crops and their captions (multi-positive
    InfoNCE, :class:`~mmdl_lib.losses.distillation.CaptionClipLoss`), scored each epoch by
    validation text → region R@5. Returns the history."""
    def evaluate(model: CLIPTeacher) -> dict[str, float]:
        text = TeacherTextEncoder(model).encode(val.captions)
        report = region_retrieval_report(embed_regions(model.encode_image, val, device), text, val, ks=(5,))
        return {"val_t2r_R@5": report["t2r_R@5"]}

    optimizer, scheduler = one_cycle_adamw(teacher.parameters(), lr, epochs, len(train), batch_size,
                                           weight_decay=0.05, pct_start=0.1)
    loss_fn = CaptionClipLoss(teacher.tokenizer(train.captions), temperature)
    return fit(teacher, optimizer, loss_fn, train, epochs=epochs, batch_size=batch_size, device=device, seed=seed,
               scheduler=scheduler, evaluate=evaluate, checkpoint_dir=checkpoint_dir, desc="teacher")
