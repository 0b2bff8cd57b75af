"""Chapter 02: Talk2Car grounding — command → box (seed 000, stage 2).

Steps the notebook calls: :func:`~mmdl_lib.book.artefacts.find_or_train_distilled` (chapter 01's
encoder; chapter 01's own notebook is executed first when no run exists), :func:`load_splits`,
:func:`extract_features`,
:func:`train_grounding` (model choice on a held-out part of the training split),
:func:`compare_finetuning` (:func:`finetune_grounding` end to end, and the head alone as its
control), :func:`imagenet_style_encoder` for the comparison of initialisations,
:func:`vit_b_alternative` (the un-distilled cost) and :func:`export_grounding` (ONNX, parity,
runtimes). Datasets, models (baselines included), losses, metrics and figures live in their modules.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from ...data.talk2car import Talk2CarDataset, Talk2CarSplits, load_talk2car_splits
from ...deploy.onnx import export_checked
from ...engine import fit
from ...engine.inference import batched_outputs
from ...engine.trainer import one_cycle_adamw
from ...metrics.boxes import grounding_metrics
from ...metrics.cost import cost_per_command
from ...models.student import StudentConfig
from ...models.teacher import CLIPTeacher
from ...region_clip import RegionTeacherConfig
from ...runtime import seed_everything
from ...synth import dataset_root
from .config import CONFIG, Talk2CarConfig, smoke_checks
from .dataset import ImageCommands, UniqueImages, collate_image_commands
from .losses import Talk2CarLoss, grounding_loss
from .model import Talk2CarModel, ViTGroundingModel, build_head, head_kwargs, predict
from .pretrain import imagenet_initialised_encoder

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "Talk2CarConfig", "smoke_checks"]


def resolve_talk2car_root(cfg: Talk2CarConfig) -> Path:
    return dataset_root(cfg.data_root, cfg.synthetic, "talk2car", cfg.synthetic_preset, cfg.seed)


def load_splits(cfg: Talk2CarConfig, root: Path) -> Talk2CarSplits:
    return load_talk2car_splits(root, (cfg.image_width, cfg.image_height), cfg.holdout_fraction, cfg.seed,
                                preload=cfg.profile == "smoke")


def imagenet_style_encoder(cfg: Talk2CarConfig, config: StudentConfig, device: torch.device) -> torch.nn.Module:
    """The distilled student's architecture, ImageNet-initialised: timm's weights (full) or pre-trained
    here on the synthetic ImageNet-style folder (smoke; cached)."""
    return imagenet_initialised_encoder(config, cfg.imagenet_epochs, device, cfg.seed, cfg.synthetic_preset,
                                        cfg.rehearse)


def extract_features(encoder: torch.nn.Module, dataset: Talk2CarDataset, device: torch.device,
                     batch_size: int = 32) -> torch.Tensor:
    """Stride-16 pyramid maps (``forward_pyramid``) of every distinct image (float16, CPU), in
    ``dataset.images`` order: a frozen encoder runs once per image, not once per command and epoch."""
    encoder.eval().to(device)
    return batched_outputs(encoder.forward_pyramid, UniqueImages(dataset), device, batch_size, dtype=torch.float16,
                           desc=f"features {dataset.split}")


def train_grounding(cfg: Talk2CarConfig, encoder: torch.nn.Module, features: dict[str, torch.Tensor],
                    text: dict[str, torch.Tensor], splits: Talk2CarSplits, device: torch.device,
                    head: str | None = None, checkpoint_dir: Path | None = None, desc: str = "grounding"):
    """Train a head on cached features of the training part; choose the epoch by holdout AP50."""
    seed_everything(cfg.seed)
    kind = head or cfg.head
    model = Talk2CarModel(encoder, build_head(kind, encoder.pyramid_channels, text["train"].shape[1],
                                              **head_kwargs(cfg.to_dict(), kind)), freeze_encoder=True)
    boxes = splits.train.boxes
    data = ImageCommands(features["train"], splits.train.image_index, text["train"], boxes, splits.train_idx)
    criterion = Talk2CarLoss(cfg.w_l1, cfg.w_giou, cfg.w_attn, cfg.w_dense)
    hold = splits.holdout_idx

    def evaluate(m):
        holdout = grounding_metrics(predict(m, features["train"], splits.train.image_index[hold], text["train"][hold],
                                            device), boxes[hold])
        val = val_metrics(m, features, text, splits, device)
        return {"holdout_ap50": holdout["ap50"], "holdout_mean_iou": holdout["mean_iou"], "val_ap50": val["ap50"]}

    optimizer, scheduler = one_cycle_adamw([p for p in model.parameters() if p.requires_grad], cfg.lr, cfg.epochs,
                                           len(data), cfg.batch_size, weight_decay=cfg.weight_decay, pct_start=0.1)
    history = fit(model, optimizer, grounding_loss(criterion), data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                  device=device, seed=cfg.seed, collate_fn=collate_image_commands, scheduler=scheduler,
                  evaluate=evaluate, select=("holdout_ap50", "max"), checkpoint_dir=checkpoint_dir, desc=desc,
                  settings={**cfg.fingerprint(), "head": kind})
    return model, history


def val_predictions(model: Talk2CarModel, features: dict[str, torch.Tensor], text: dict[str, torch.Tensor],
                    splits: Talk2CarSplits, device: torch.device, tuned_encoder: bool = False) -> torch.Tensor:
    """Boxes for the val commands, from the cached maps or (``tuned_encoder``) the model's own encoder's."""
    maps = extract_features(model.encoder, splits.val, device) if tuned_encoder else features["val"]
    return predict(model, maps, splits.val.image_index, text["val"], device)


def val_metrics(model: Talk2CarModel, features: dict[str, torch.Tensor], text: dict[str, torch.Tensor],
                splits: Talk2CarSplits, device: torch.device, tuned_encoder: bool = False) -> dict[str, float]:
    """Grounding metrics of :func:`val_predictions`."""
    return grounding_metrics(val_predictions(model, features, text, splits, device, tuned_encoder), splits.val.boxes)


def finetune_grounding(cfg: Talk2CarConfig, model: Talk2CarModel, features: dict[str, torch.Tensor],
                       text: dict[str, torch.Tensor], splits: Talk2CarSplits, device: torch.device, end_to_end: bool,
                       checkpoint_dir: Path | None = None, desc: str = "fine-tune"):
    """``finetune_epochs`` more epochs for a model trained on the frozen encoder's cached maps.

    End to end, every step sends the images through the encoder, which learns at
    ``finetune_lr × encoder_lr_mult`` beside the head's ``finetune_lr``. Otherwise the head alone
    trains on the cached maps: the control with the same data, epochs and rate, so that the two
    differ only in whether the encoder learns. ``model`` is left as it is (a copy is tuned); the last epoch is kept.
    """
    seed_everything(cfg.seed)
    tuned = copy.deepcopy(model)
    groups = tuned.unfreeze(end_to_end, cfg.finetune_lr, cfg.encoder_lr_mult)
    train = splits.train
    data = ImageCommands(train if end_to_end else features["train"], train.image_index, text["train"], train.boxes,
                         splits.train_idx)

    def evaluate(m):
        return {"val_ap50": val_metrics(m, features, text, splits, device, end_to_end)["ap50"]}

    optimizer, scheduler = one_cycle_adamw(groups, cfg.finetune_lr, cfg.finetune_epochs, len(data), cfg.batch_size,
                                           weight_decay=cfg.weight_decay, pct_start=0.1)
    history = fit(tuned, optimizer, grounding_loss(Talk2CarLoss(cfg.w_l1, cfg.w_giou, cfg.w_attn, cfg.w_dense)),
                  data, epochs=cfg.finetune_epochs, batch_size=cfg.batch_size, device=device, seed=cfg.seed,
                  collate_fn=collate_image_commands, scheduler=scheduler, evaluate=evaluate,
                  checkpoint_dir=checkpoint_dir, desc=desc, settings={**cfg.fingerprint(), "end_to_end": end_to_end})
    return tuned, history


FINETUNE_ARMS = {"head only, encoder frozen": False, "end to end, encoder fine-tuned": True}


def compare_finetuning(cfg: Talk2CarConfig, model: Talk2CarModel, features: dict[str, torch.Tensor],
                       text: dict[str, torch.Tensor], splits: Talk2CarSplits, device: torch.device,
                       checkpoint_dir: Path | None = None):
    """Chapter 02's "frozen or fine-tuned": :func:`finetune_grounding` end to end and, with
    ``cfg.compare``, its head-only control (:data:`FINETUNE_ARMS`), each scored on val.
    Returns the val metrics by row name, then by arm the tuned models, their histories and their val
    boxes (for the paired comparison over commands)."""
    results, tuned, histories, boxes = {}, {}, {}, {}
    for name, end_to_end in FINETUNE_ARMS.items():
        if not (cfg.compare or end_to_end):
            continue
        folder = checkpoint_dir / ("finetune" if end_to_end else "head_only") if checkpoint_dir else None
        tuned[name], histories[name] = finetune_grounding(cfg, model, features, text, splits, device, end_to_end,
                                                          checkpoint_dir=folder, desc=name)
        boxes[name] = val_predictions(tuned[name], features, text, splits, device, end_to_end)
        results[f"+{cfg.finetune_epochs} epochs, {name}"] = grounding_metrics(boxes[name], splits.val.boxes)
    return results, tuned, histories, boxes


def vit_b_alternative(cfg: Talk2CarConfig, text_dim: int, device: torch.device) -> dict[str, float]:
    """The same measurement for chapter 01's full-profile teacher tower (open_clip ViT-B/16, 224×224,
    random weights) with the same kind of head over its 14×14 patch tokens: what grounding on the
    un-distilled CLIP would cost."""
    vit = CLIPTeacher(RegionTeacherConfig.from_profile("full").teacher_name).image_tower
    head = build_head(cfg.head, vit.transformer.width, text_dim, **head_kwargs(cfg.to_dict(), cfg.head))
    return cost_per_command(ViTGroundingModel(vit, head), text_dim, (224, 224), device, cfg.latency_repeats)


def export_grounding(model: Talk2CarModel, dataset: Talk2CarDataset, text: torch.Tensor, folder: Path,
                     batches: list[int] | tuple[int, ...] = (1, 32), repeats: int = 5) -> dict[str, Any]:
    """The grounding model (encoder + head: image and command embedding → box) as ONNX
    (``folder/grounding.onnx``): its parity with PyTorch on up to 64 of ``dataset``'s commands, and
    milliseconds per command in PyTorch eager, channels-last and onnxruntime."""
    checked = min(64, len(dataset))
    rows = [i % checked for i in range(max(*batches, checked, 2))]  # timing cycles through the distinct commands
    images = torch.stack([dataset.image_tensor(int(dataset.image_index[i])) for i in rows])
    return export_checked(model, [images, text[rows].float()], folder / "grounding.onnx", ["images", "text"], ["box"],
                          batches, repeats, checked=checked, per="command")


def n_commands(splits: Talk2CarSplits) -> dict[str, int]:
    return {"train": len(splits.train_idx), "holdout": len(splits.holdout_idx), "val": len(splits.val)}
