"""Chapter 04: text-driven OOD segmentation, TDOS, with mmsegmentation (seed 003).

Steps the notebook calls: :func:`resolve_roots`, :func:`load_sets`, :func:`get_clip` (chapter 01's
teacher in smoke, an OpenCLIP ViT-B/16 in full), :func:`pick_ood_concepts` (WordNet, cached),
:func:`model_config` (the mmseg config with every setting filled in), :func:`build_segmentor`,
:func:`train`, :func:`evaluate` and :func:`smoke_checks`. The model's modules live in
:mod:`mmdl_lib.models.tdos`, the metrics in :mod:`mmdl_lib.metrics`; this module only configures
and orchestrates. :mod:`mmdl_lib.stages.tdos_torchrun` trains it under ``torchrun``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..config import StageConfig
from ..data.cityscapes import (CITYSCAPES_CLASSES, SegmentationPairs, cityscapes_pairs, ood_pairs, read_cityscapes,
                               read_ood)
from ..errors import ConfigError
from ..paths import dataset_root

SMOKE_CLIP = "chapter01-teacher"
OOD_FOLDERS = {"fishyscapes": "fishyscapes_laf", "smiyc_anomaly": "smiyc/dataset_AnomalyTrack",
               "smiyc_obstacle": "smiyc/dataset_ObstacleTrack", "road_anomaly": "road_anomaly"}


@dataclass
class TextOODSegConfig(StageConfig):
    data_root: str | None = None  # Cityscapes (leftImg8bit/, gtFine/); None → synthetic / $MMDL_DATA/cityscapes
    ood_root: str | None = None  # the OOD benchmark; None → synthetic / $MMDL_DATA/<OOD_FOLDERS[layout]>
    ood_layout: Literal["fishyscapes", "smiyc_anomaly", "smiyc_obstacle", "road_anomaly"] = "fishyscapes"
    synthetic_preset: str = "smoke"
    model_config: str = "tdos_cityscapes_full"  # a book config (mmdl_lib/openmmlab/configs) or "mmseg::…"
    clip_name: str = "ViT-B-16"  # open_clip name; smoke: chapter 01's teacher
    clip_pretrained: str | None = "openai"  # open_clip tag; None: random weights (the CPU rehearsal)
    # (height, width) the model sees: whole images resized (mmseg's recipe crops 512×1024 from images
    # rescaled 0.5–2×; the book trains on whole images at half Cityscapes resolution)
    image_size: list[int] = field(default_factory=lambda: [512, 1024])
    n_ctx: int = 8  # CoOp context tokens (the seed's context_length)
    learnable_cls_num: int = 50  # learnable negative prompts
    concepts_per_band: int = 10  # WordNet OOD concepts per distance band (near 3–5, mid 6–8, far 9–12)
    ood_augmentation: bool = True  # attention-feature perturbation regions labelled OOD
    augmentation_probability: float = 0.5  # share of training images that get OOD regions
    augmentation_object_fraction: float = 0.5  # share of regions that are a whole object (else a road blob)
    perturb_strength: float = 1.0  # how far the perturbed features may move (channel shuffle, scale, noise)
    perturb_layer: int = -1  # the CLIP block whose attention output is perturbed
    backbone_lr_mult: float = 0.0  # 0: the CLIP image tower frozen (the seed's default)
    text_encoder_lr_mult: float = 0.0  # 0: the CLIP text encoder frozen
    finetune: bool = False  # the seed's --finetune: eval mode, decoder and prompts only
    load_from: str | None = None  # a trained TDOS checkpoint (safetensors) to start from
    epochs: int = 54  # ≈ the seed's 20k iterations at batch 8 on Cityscapes' 2,975 images
    batch_size: int = 8
    lr: float = 1e-5  # the seed's config name: text_driven_ood_seg_vit-b_1e-5_20k
    weight_decay: float = 0.05
    max_train_images: int | None = None
    max_val_images: int | None = None
    max_ood_images: int | None = None
    max_steps: int | None = None  # per epoch (the rehearsal)
    eval_batch_size: int = 4

    PROFILES = {
        "smoke": {"model_config": "tdos_cityscapes_smoke", "clip_name": SMOKE_CLIP, "clip_pretrained": None,
                  "image_size": [128, 256], "epochs": 6, "batch_size": 4, "lr": 1e-3},
        "full": {},
    }
    # the full profile on a CPU: ViT-B/16 and the packaged Mask2Former with random weights, two
    # real-size synthetic images per split, one step
    REHEARSAL = {"clip_pretrained": None, "epochs": 1, "batch_size": 1, "max_steps": 1, "max_train_images": 2,
                 "max_val_images": 1, "max_ood_images": 2, "eval_batch_size": 1}

    def __post_init__(self) -> None:
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ConfigError(f"image_size {self.image_size}: give [height, width]")
        if self.finetune and self.load_from is None and self.profile == "full" and not self.rehearse:
            raise ConfigError("finetune trains the decoder and prompts of a trained model: set load_from")


CONFIG = TextOODSegConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    ood, seg = metrics["ood"], metrics["segmentation"]
    tdos_ap = ood["tdos"]["ap"]
    return {"TDOS score's AP above every baseline's (MSP, max logit, entropy)":
                all(tdos_ap > ood[name]["ap"] for name in ("msp", "max_logit", "entropy")),
            "in-distribution mIoU well above chance (3× the majority-class mIoU, and ≥ 0.25)":
                seg["miou"] >= max(0.25, 3 * seg["chance_miou"])}


def resolve_roots(cfg: TextOODSegConfig) -> tuple[Path, Path]:
    cityscapes = dataset_root(cfg.data_root, cfg.synthetic, "cityscapes", cfg.synthetic_preset, cfg.seed)
    if cfg.synthetic and cfg.ood_root is None and cfg.ood_layout != "fishyscapes":
        raise ConfigError(f"the synthetic OOD set has the fishyscapes layout, not {cfg.ood_layout!r}")
    ood = dataset_root(cfg.ood_root, cfg.synthetic, "ood", cfg.synthetic_preset, cfg.seed,
                       folder=OOD_FOLDERS[cfg.ood_layout])
    return cityscapes, ood


def _first(items: list, limit: int | None) -> list:
    return items if limit is None else items[:limit]


def load_sets(cfg: TextOODSegConfig, roots: tuple[Path, Path]) -> dict[str, SegmentationPairs]:
    """Cityscapes train and val (train ids) and the OOD set (0 / 1 / 255), resized to ``image_size``."""
    cityscapes, ood = roots
    size = tuple(cfg.image_size)
    keep = cfg.synthetic  # small enough to keep in memory
    return {
        "train": SegmentationPairs(_first(cityscapes_pairs(cityscapes, "train"), cfg.max_train_images),
                                   read_cityscapes, size, keep, what=f"{cityscapes} train"),
        "val": SegmentationPairs(_first(cityscapes_pairs(cityscapes, "val"), cfg.max_val_images),
                                 read_cityscapes, size, keep, what=f"{cityscapes} val"),
        "ood": SegmentationPairs(_first(ood_pairs(ood, cfg.ood_layout), cfg.max_ood_images),
                                 lambda pair: read_ood(pair, cfg.ood_layout), size, keep, what=str(ood)),
    }


def get_clip(cfg: TextOODSegConfig) -> dict[str, Any]:
    """``{"name", "pretrained", "weights"}`` of the CLIP both towers come from."""
    if cfg.clip_name == SMOKE_CLIP:
        from .clip_kd import ClipKDConfig, cached_teacher

        _, info = cached_teacher(ClipKDConfig.from_profile("smoke", seed=cfg.seed), torch.device("cpu"))
        return {"name": info["name"], "pretrained": None, "weights": info["weights"]}
    if cfg.clip_pretrained:
        return {"name": cfg.clip_name, "pretrained": cfg.clip_pretrained, "weights": None}
    from ..models.teacher import random_teacher_weights

    return {"name": cfg.clip_name, "pretrained": None, "weights": str(random_teacher_weights(cfg.clip_name, cfg.seed))}


def pick_ood_concepts(cfg: TextOODSegConfig) -> dict[str, list[dict[str, Any]]]:
    from ..data.ood_concepts import cached_concepts

    return cached_concepts(cfg.concepts_per_band, cfg.seed)


def model_config(cfg: TextOODSegConfig, clip: dict[str, Any], concepts: dict[str, list[dict[str, Any]]]):
    """The mmseg config of ``model_config`` with this run's CLIP, prompts, augmentation and size."""
    from ..openmmlab.configs import load_config

    config = load_config(cfg.model_config)
    model = config.model
    model.backbone.update(clip=clip, frozen=cfg.backbone_lr_mult == 0, perturb_layer=cfg.perturb_layer,
                          perturb_strength=cfg.perturb_strength)
    model.decode_head.text_classifier.update(
        clip=clip, class_names=list(CITYSCAPES_CLASSES), n_ctx=cfg.n_ctx, learnable_cls_num=cfg.learnable_cls_num,
        ood_concepts=[c["name"] for band in concepts.values() for c in band])
    model.ood_augmentation = (dict(probability=cfg.augmentation_probability, max_regions=2, radius=(0.04, 0.15),
                                   object_fraction=cfg.augmentation_object_fraction)
                              if cfg.ood_augmentation else None)
    model.finetune = cfg.finetune
    model.data_preprocessor.size = tuple(cfg.image_size)
    return config


def build_segmentor(cfg: TextOODSegConfig, config, device: torch.device) -> torch.nn.Module:
    from ..engine.checkpoint import load_weights
    from ..openmmlab.configs import build_model
    from ..runtime import seed_everything

    importlib.import_module("mmdl_lib.models.tdos")  # registers TDOS's modules in mmseg

    seed_everything(cfg.seed)
    model = build_model(config, "mmseg")
    if cfg.text_encoder_lr_mult > 0:
        model.decode_head.text_classifier.requires_grad_(True)
    if cfg.backbone_lr_mult > 0:
        model.backbone.visual.requires_grad_(True)
    if cfg.load_from:
        load_weights(model, cfg.load_from)
    return model.to(device)


def lr_multipliers(cfg: TextOODSegConfig) -> dict[str, float]:
    """Module-wise learning-rate multipliers (mmengine ``paramwise_cfg`` keys)."""
    return {"backbone.visual": cfg.backbone_lr_mult,
            "decode_head.text_classifier.transformer": cfg.text_encoder_lr_mult,
            "decode_head.text_classifier.token_embedding": cfg.text_encoder_lr_mult}


def train(cfg: TextOODSegConfig, model: torch.nn.Module, train_set: SegmentationPairs, device: torch.device,
          checkpoint_dir: Path | None = None) -> list[dict[str, float]]:
    from ..engine.segmentation import train_segmentor

    return train_segmentor(model, train_set, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           weight_decay=cfg.weight_decay, lr_mults=lr_multipliers(cfg), seed=cfg.seed, device=device,
                           checkpoint_dir=checkpoint_dir, fingerprint=cfg.fingerprint(), max_steps=cfg.max_steps,
                           desc="TDOS")


def evaluate(cfg: TextOODSegConfig, model: torch.nn.Module, sets: dict[str, SegmentationPairs],
             device: torch.device) -> dict[str, Any]:
    """mIoU on in-distribution validation; AUROC / AP / FPR95 of every anomaly score on the OOD set."""
    from ..engine.segmentation import predict_class_maps
    from ..metrics.ood import ood_metrics
    from ..metrics.segmentation import class_iou, confusion_matrix, majority_class_miou, mean_iou
    from ..models.tdos import SCORE_NAMES, anomaly_scores

    k = len(CITYSCAPES_CLASSES)
    val = sets["val"]
    confusion = np.zeros((k, k), dtype=np.int64)
    labels = val.labels()

    def add(start: int, maps: torch.Tensor) -> None:
        nonlocal confusion
        for offset, pred in enumerate(maps[:, :k].argmax(1).numpy()):
            confusion = confusion + confusion_matrix(pred, labels[start + offset], k)

    predict_class_maps(model, val.images(), cfg.eval_batch_size, device, "val mIoU", each=add)
    ood = sets["ood"]
    scores: dict[str, list[np.ndarray]] = {name: [] for name in SCORE_NAMES}

    def score(start: int, maps: torch.Tensor) -> None:
        for name, value in anomaly_scores(maps).items():
            scores[name].append(value.numpy())

    predict_class_maps(model, ood.images(), cfg.eval_batch_size, device, "OOD scores", each=score)
    truth = np.stack(ood.labels())
    return {"segmentation": {"miou": mean_iou(confusion), "chance_miou": majority_class_miou(labels, k),
                             "class_iou": dict(zip(CITYSCAPES_CLASSES, class_iou(confusion).tolist()))},
            "ood": {name: ood_metrics(np.concatenate(v), truth) for name, v in scores.items()},
            "anomaly_fraction": float((truth == 1).sum() / max((truth != 255).sum(), 1))}


def record_notes(cfg: TextOODSegConfig) -> str | None:
    """What the run record says about models that are not the seed's."""
    if cfg.profile == "smoke":
        return "synthetic Cityscapes and Fishyscapes-style OOD set; chapter 01's CLIP teacher as both towers"
    if cfg.rehearse:
        return (f"rehearsal: {cfg.clip_name} and the packaged Mask2Former with random weights, "
                f"{cfg.max_train_images} real-size synthetic training image(s), {cfg.max_steps} step(s)")
    return None
