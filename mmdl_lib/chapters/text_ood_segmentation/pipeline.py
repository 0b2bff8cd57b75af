"""Chapter 04: text-driven OOD segmentation, TDOS, with mmsegmentation (seed 003).

Steps the notebook calls: :func:`resolve_roots`, :func:`load_sets`, :func:`get_clip` (chapter 01's
teacher in smoke, an OpenCLIP ViT-B/16 in full), :func:`pick_ood_concepts` (WordNet, cached),
:func:`model_config` (the mmseg config with every setting filled in), :func:`build_segmentor`,
:func:`train`, :func:`score_ood`, :func:`evaluate`, :func:`compare_scores` (the paired bootstrap of
:mod:`.comparisons`) and :func:`smoke_checks`. The model's modules live in
:mod:`.model`, the metrics in :mod:`mmdl_lib.metrics`; this module only configures
and orchestrates. :mod:`mmdl_lib.cli.tdos_torchrun` trains it under ``torchrun``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.cityscapes import (CITYSCAPES_CLASSES, SegmentationPairs, cityscapes_pairs, ood_pairs, read_cityscapes,
                                read_ood)
from ...engine.checkpoint import load_weights
from ...errors import ConfigError
from ...metrics.ood import ood_metrics
from ...metrics.segmentation import class_iou, confusion_matrix, majority_class_miou, mean_iou
from ...metrics.uncertainty import Comparison
from ...models.teacher import random_teacher_weights
from ...openmmlab.configs import build_model, load_config
from ...region_clip import RegionTeacherConfig, cached_teacher
from ...runtime import seed_everything
from ...synth import dataset_root
from .comparisons import PixelRanking, compare_ood_scores, comparison_notes
from .config import CONFIG, SMOKE_CLIP, TextOODSegConfig, smoke_checks
from .model import SCORE_NAMES, anomaly_scores
from .ood_concepts import cached_concepts
from .train import predict_class_maps, train_segmentor

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "SMOKE_CLIP", "TextOODSegConfig", "comparison_notes", "smoke_checks"]

COMPARISON_RESAMPLES = 1000  # bootstrap resamples of the OOD images (AP from PixelRanking: milliseconds each)
OOD_FOLDERS = {"fishyscapes": "fishyscapes_laf", "smiyc_anomaly": "smiyc/dataset_AnomalyTrack",
               "smiyc_obstacle": "smiyc/dataset_ObstacleTrack", "road_anomaly": "road_anomaly"}


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
        _, info = cached_teacher(RegionTeacherConfig.from_profile("smoke", seed=cfg.seed), torch.device("cpu"))
        return {"name": info["name"], "pretrained": None, "weights": info["weights"]}
    if cfg.clip_pretrained:
        return {"name": cfg.clip_name, "pretrained": cfg.clip_pretrained, "weights": None}

    return {"name": cfg.clip_name, "pretrained": None, "weights": str(random_teacher_weights(cfg.clip_name, cfg.seed))}


def pick_ood_concepts(cfg: TextOODSegConfig) -> dict[str, list[dict[str, Any]]]:
    return cached_concepts(cfg.concepts_per_band, cfg.seed)


def model_config(cfg: TextOODSegConfig, clip: dict[str, Any], concepts: dict[str, list[dict[str, Any]]]):
    """The mmseg config of ``model_config`` with this run's CLIP, prompts, augmentation and size."""

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
    importlib.import_module("mmdl_lib.chapters.text_ood_segmentation.model")  # registers TDOS's modules in mmseg

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
    return train_segmentor(model, train_set, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           weight_decay=cfg.weight_decay, lr_mults=lr_multipliers(cfg), seed=cfg.seed, device=device,
                           checkpoint_dir=checkpoint_dir, fingerprint=cfg.fingerprint(), max_steps=cfg.max_steps,
                           desc="TDOS")


def score_ood(cfg: TextOODSegConfig, model: torch.nn.Module, ood: SegmentationPairs,
              device: torch.device) -> dict[str, Any]:
    """Every anomaly score's per-pixel map on the OOD set (``{"scores": {name: (N, H, W)}, "labels": (N, H, W)}``)."""
    scores: dict[str, list[np.ndarray]] = {name: [] for name in SCORE_NAMES}

    def score(start: int, maps: torch.Tensor) -> None:
        for name, value in anomaly_scores(maps).items():
            scores[name].append(value.numpy())

    predict_class_maps(model, ood.images(), cfg.eval_batch_size, device, "OOD scores", each=score)
    return {"scores": {name: np.concatenate(v) for name, v in scores.items()}, "labels": np.stack(ood.labels())}


def evaluate(cfg: TextOODSegConfig, model: torch.nn.Module, sets: dict[str, SegmentationPairs],
             device: torch.device, ood_pixels: dict[str, Any] | None = None) -> dict[str, Any]:
    """mIoU on in-distribution validation; AUROC / AP / FPR95 of every anomaly score on the OOD set
    (from ``ood_pixels``, :func:`score_ood`'s maps, when given). The mIoU is the mean over the classes
    that occur in the validation labels or predictions (``classes_scored`` of them): a class in
    neither has no IoU."""

    k = len(CITYSCAPES_CLASSES)
    val = sets["val"]
    confusion = np.zeros((k, k), dtype=np.int64)
    labels = val.labels()

    def add(start: int, maps: torch.Tensor) -> None:
        nonlocal confusion
        for offset, pred in enumerate(maps[:, :k].argmax(1).numpy()):
            confusion = confusion + confusion_matrix(pred, labels[start + offset], k)

    predict_class_maps(model, val.images(), cfg.eval_batch_size, device, "val mIoU", each=add)
    pixels = ood_pixels if ood_pixels is not None else score_ood(cfg, model, sets["ood"], device)
    truth = pixels["labels"]
    ious = class_iou(confusion)
    return {"segmentation": {"miou": mean_iou(confusion), "chance_miou": majority_class_miou(labels, k),
                             "class_iou": dict(zip(CITYSCAPES_CLASSES, ious.tolist())),
                             "classes_scored": int(np.isfinite(ious).sum())},
            "ood": {name: ood_metrics(v, truth) for name, v in pixels["scores"].items()},
            "anomaly_fraction": float((truth == 1).sum() / max((truth != 255).sum(), 1))}


def score_rankings(ood_pixels: dict[str, Any]) -> dict[str, PixelRanking]:
    """Each score's pixels ranked once (:class:`.comparisons.PixelRanking`), per OOD image."""
    return {name: PixelRanking(list(maps), list(ood_pixels["labels"])) for name, maps in ood_pixels["scores"].items()}


def compare_scores(cfg: TextOODSegConfig, rankings: dict[str, PixelRanking],
                   resamples: int = COMPARISON_RESAMPLES) -> dict[str, Comparison]:
    """TDOS's score against each baseline on AP and FPR95: a paired bootstrap over the OOD images."""
    return compare_ood_scores(rankings, resamples=resamples, seed=cfg.seed)
