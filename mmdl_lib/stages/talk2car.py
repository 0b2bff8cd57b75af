"""Chapter 02: Talk2Car grounding — command → box (seed 000, stage 2).

Steps the notebook calls: :func:`~mmdl_lib.book.upstream.find_or_train_distilled` (chapter 01's
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..config import StageConfig
from ..data.grounding import ImageCommands, UniqueImages, collate_image_commands
from ..data.talk2car import Talk2CarDataset, Talk2CarSplits, load_talk2car_splits
from ..deploy.onnx import export_checked
from ..engine import fit
from ..engine.inference import batched_outputs
from ..engine.pretrain import imagenet_initialised_encoder
from ..engine.trainer import one_cycle_adamw
from ..losses.grounding import Talk2CarLoss, grounding_loss
from ..metrics.boxes import grounding_metrics
from ..metrics.cost import cost_per_command
from ..models.grounding import Talk2CarModel, ViTGroundingModel, build_head, head_kwargs, predict
from ..models.student import StudentConfig
from ..models.teacher import CLIPTeacher
from ..paths import dataset_root
from ..runtime import seed_everything
from .clip_kd import ClipKDConfig


@dataclass
class Talk2CarConfig(StageConfig):
    data_root: str | None = None  # Talk2Car root; None → the synthetic world (smoke) or $MMDL_DATA/talk2car (full)
    synthetic_preset: str = "smoke"
    # "all": chapter 01 first if no run exists · "train": needs chapter 01's run · "test": inference only
    mode: Literal["all", "train", "test"] = "all"
    distilled: str | None = None  # folder with student.safetensors; None → the newest chapter-01 run
    encoder_variant: Literal["multiscale", "single"] = "multiscale"
    grounding_checkpoint: str | None = None  # for mode "test"; None → the newest chapter-02 run
    image_width: int = 1600
    image_height: int = 900
    head: Literal["transformer", "projection"] = "transformer"
    text_encoder: Literal["teacher", "minilm"] = "teacher"
    epochs: int = 20
    batch_size: int = 32  # images per batch; all training commands of an image go together
    lr: float = 1e-4
    weight_decay: float = 1e-4
    w_l1: float = 5.0
    w_giou: float = 2.0
    w_attn: float = 1.0  # dense supervision of the transformer head's token scores (0 turns it off)
    w_dense: float = 1.0  # L1 + GIoU on the boxes of the tokens inside the ground truth (0 turns it off)
    d_model: int = 256
    num_layers: int = 3  # decoder layers
    num_encoder_layers: int = 2  # self-attention layers over the image tokens
    # end-to-end fine-tuning, after `epochs` on the frozen encoder's cached maps (linear probe, then fine-tune):
    finetune_encoder: bool = False  # the main model trains `finetune_epochs` more, the encoder unfrozen
    finetune_epochs: int = 3
    finetune_lr: float = 5e-5  # the head's peak rate while fine-tuning; the encoder's is × encoder_lr_mult
    encoder_lr_mult: float = 0.1
    holdout_fraction: float = 0.1  # of the training split, kept for model choice
    compare: bool = True  # baselines, the other head, the other text encoder, other encoder inits, frozen vs fine-tuned
    imagenet_epochs: int = 0  # smoke: pre-train on the synthetic ImageNet-style folder; full: timm weights
    visualize: bool = True
    generate_predictions: bool = True
    latency_batches: list[int] = field(default_factory=lambda: [1, 32])  # the ONNX runtimes are timed at these
    latency_repeats: int = 5  # timed calls per measurement (median)

    PROFILES = {
        "smoke": {"image_width": 256, "image_height": 144, "epochs": 8, "batch_size": 20,
                  "lr": 2e-3, "d_model": 128, "num_layers": 1, "num_encoder_layers": 1, "imagenet_epochs": 6,
                  "finetune_epochs": 2, "finetune_lr": 5e-4},
        "full": {"image_width": 800, "image_height": 450, "finetune_encoder": True},
    }
    # the full profile on a CPU: chapter 01's rehearsal students, one epoch, two images a batch
    REHEARSAL = {"epochs": 1, "batch_size": 2, "finetune_epochs": 1, "latency_batches": [1, 2], "latency_repeats": 1}


CONFIG = Talk2CarConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    val = metrics["val"]
    main = next(v for k, v in val.items() if k.startswith("transformer head"))
    return {"transformer head AP50 at least twice the best trivial baseline":
            main["ap50"] >= 2 * metrics["best_trivial_ap50"],
            "transformer head above the projection head": main["ap50"] > val["projection head"]["ap50"],
            "ONNX grounding model matches PyTorch (cosine ≥ 0.999)": metrics["onnx"]["parity"]["min_cosine"] >= 0.999}


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


def val_metrics(model: Talk2CarModel, features: dict[str, torch.Tensor], text: dict[str, torch.Tensor],
                splits: Talk2CarSplits, device: torch.device, tuned_encoder: bool = False) -> dict[str, float]:
    """Grounding metrics on val, from the cached maps or (``tuned_encoder``) the model's own encoder's."""
    maps = extract_features(model.encoder, splits.val, device) if tuned_encoder else features["val"]
    return grounding_metrics(predict(model, maps, splits.val.image_index, text["val"], device), splits.val.boxes)


def finetune_grounding(cfg: Talk2CarConfig, model: Talk2CarModel, features: dict[str, torch.Tensor],
                       text: dict[str, torch.Tensor], splits: Talk2CarSplits, device: torch.device, end_to_end: bool,
                       checkpoint_dir: Path | None = None, desc: str = "fine-tune"):
    """``finetune_epochs`` more epochs for a model trained on the frozen encoder's cached maps.

    End to end, every step sends the images through the encoder, which learns at
    ``finetune_lr × encoder_lr_mult`` beside the head's ``finetune_lr``. Otherwise the head alone
    trains on the cached maps: the control with the same data, epochs and rate, so the difference is
    what unfreezing buys. ``model`` is left as it is (a copy is tuned); the last epoch is kept.
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
    Returns the val metrics by row name, the tuned models and their histories, by arm."""
    results, tuned, histories = {}, {}, {}
    for name, end_to_end in FINETUNE_ARMS.items():
        if not (cfg.compare or end_to_end):
            continue
        folder = checkpoint_dir / ("finetune" if end_to_end else "head_only") if checkpoint_dir else None
        tuned[name], histories[name] = finetune_grounding(cfg, model, features, text, splits, device, end_to_end,
                                                          checkpoint_dir=folder, desc=name)
        results[f"+{cfg.finetune_epochs} epochs, {name}"] = val_metrics(tuned[name], features, text, splits, device,
                                                                       end_to_end)
    return results, tuned, histories


def vit_b_alternative(cfg: Talk2CarConfig, text_dim: int, device: torch.device) -> dict[str, float]:
    """The same measurement for chapter 01's full-profile teacher tower (open_clip ViT-B/16, 224×224,
    random weights) with the same kind of head over its 14×14 patch tokens: what grounding on the
    un-distilled CLIP would cost."""
    vit = CLIPTeacher(ClipKDConfig.from_profile("full").teacher_name).image_tower
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
