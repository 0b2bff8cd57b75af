"""CLIP on region crops, and the region-CLIP teacher that chapters 01, 02, 04, 05 and 06 share.

The teacher is an open_clip model: loaded by its pretrained tag (full), or trained here first,
contrastively on the synthetic world's region crops and captions (smoke), and cached under a key of
its settings, the data and the library version (:func:`get_teacher`, :func:`cached_teacher`). Its
settings are :class:`RegionTeacherConfig`, which chapter 01's config extends with the student's;
a later chapter asks for the same teacher with ``RegionTeacherConfig.from_profile("smoke", seed=...)``.
Also here: embeddings of every region and the frozen teacher's offline distillation targets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from . import __version__
from .cache import cache_key, cached_folder
from .config import StageConfig
from .data.coco_regions import COCORegionTextDataset, PlainRegionCrops, get_augmented_transform
from .engine.checkpoint import save_weights
from .engine.inference import batched_outputs
from .engine.trainer import fit, one_cycle_adamw
from .errors import ConfigError, DataFormatError
from .io import write_json
from .losses.distillation import CaptionClipLoss
from .metrics.retrieval import region_retrieval_report
from .models.teacher import CLIPTeacher, random_teacher_weights
from .models.text import TeacherTextEncoder
from .paths import cache_dir
from .runtime import seed_everything
from .synth import WORLD_VERSION, dataset_root


@dataclass
class RegionTeacherConfig(StageConfig):
    """The teacher's settings, and the region crops it shares with chapter 01's student."""

    data_root: str | None = None  # COCO 2017 root; None → the synthetic world (smoke) or $MMDL_DATA/coco (full)
    synthetic_preset: str = "smoke"
    # teacher: any open_clip model + pretrained tag; without a tag (smoke) it is trained here first.
    # ViT-B/16 costs ~3.9× ConvNeXt-Tiny's FLOPs at 224 px (ViT-B/32 about 1×): a student worth deploying
    teacher_name: str = "ViT-B-16"
    teacher_pretrained: str | None = "laion2b_s34b_b88k"
    teacher_epochs: int = 0
    teacher_lr: float = 1e-3
    image_size: int = 224
    min_window: int = 64
    context: float = 0.25
    batch_size: int = 256
    temperature: float = 0.07
    max_regions: int | None = None

    PROFILES = {
        "smoke": {"teacher_name": "mmdl-vit-tiny-teacher", "teacher_pretrained": None, "teacher_epochs": 12,
                  "teacher_lr": 2e-3, "image_size": 48, "min_window": 40, "batch_size": 128},
        "full": {},
    }
    # the full profile on a CPU: a random teacher, 8 regions a split, 2 steps an epoch
    REHEARSAL = {"teacher_pretrained": None, "batch_size": 4, "max_regions": 8}


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


def resolve_coco_root(cfg: RegionTeacherConfig) -> Path:
    root = dataset_root(cfg.data_root, cfg.synthetic, "coco", cfg.synthetic_preset, cfg.seed)
    if cfg.synthetic and not cfg.data_root:
        return root
    if not (root / "annotations" / "instances_train2017.json").is_file():
        raise DataFormatError(root / "annotations" / "instances_train2017.json",
                              "COCO 2017 not found: download train2017/, val2017/ and annotations/ there, "
                              "or pass data_root")
    return root


def load_regions(cfg: RegionTeacherConfig, root: Path) -> tuple[COCORegionTextDataset, COCORegionTextDataset]:
    preload = cfg.profile == "smoke"
    common = dict(image_size=cfg.image_size, context=cfg.context, min_window=cfg.min_window, preload=preload,
                  max_regions=cfg.max_regions)
    train = COCORegionTextDataset(root, "train", transform=get_augmented_transform(cfg.image_size), **common)
    val = COCORegionTextDataset(root, "val", **common)
    return train, val


def _teacher_key(cfg: RegionTeacherConfig) -> str:
    fields = {k: getattr(cfg, k) for k in ("teacher_name", "teacher_epochs", "teacher_lr", "image_size",
                                           "min_window", "context", "synthetic_preset", "seed", "max_regions",
                                           "batch_size", "temperature")}
    fields.update(world=WORLD_VERSION, lib=__version__, data_root=cfg.data_root,
                  model=open_clip.get_model_config(cfg.teacher_name))
    return cache_key(fields)


def get_teacher(cfg: RegionTeacherConfig, train: COCORegionTextDataset | None, val: COCORegionTextDataset | None,
                device: torch.device) -> tuple[CLIPTeacher, dict]:
    """The frozen teacher, and how it was obtained.

    With a pretrained tag it is loaded as published. Without one (smoke) it is trained
    contrastively on the training regions and their captions, cached under a key of its config,
    the data and the library version, and reused by later runs and chapters. Teacher and
    student see the same crops, so ``image_size`` must be the teacher's input size.
    """
    teacher, info = _teacher(cfg, train, val, device)
    if teacher.image_size != cfg.image_size:
        raise ConfigError(f"image_size {cfg.image_size}: the teacher {cfg.teacher_name} takes {teacher.image_size}-px "
                          f"crops (its position embeddings), and the student sees the same crops; "
                          f"set image_size={teacher.image_size}")
    return teacher, info


def _teacher(cfg: RegionTeacherConfig, train: COCORegionTextDataset | None, val: COCORegionTextDataset | None,
             device: torch.device) -> tuple[CLIPTeacher, dict]:
    if cfg.teacher_pretrained:
        teacher = CLIPTeacher(cfg.teacher_name, cfg.teacher_pretrained).to(device).freeze()
        return teacher, {"name": cfg.teacher_name, "pretrained": cfg.teacher_pretrained, "weights": None}
    if cfg.rehearse:  # the full teacher's architecture with random weights, saved for chapter 02's rehearsal
        weights = random_teacher_weights(cfg.teacher_name, cfg.seed)
        teacher = CLIPTeacher(cfg.teacher_name, weights=weights).to(device).freeze()
        return teacher, {"name": cfg.teacher_name, "pretrained": None, "weights": str(weights), "rehearsal": True}
    if cfg.teacher_epochs <= 0:
        raise ConfigError("a teacher without pretrained weights must be trained: set teacher_epochs > 0 "
                          "(an untrained teacher would distil noise)")
    folder, _ = cached_folder("clip_kd_teacher", _teacher_key(cfg),
                              lambda partial: _train_teacher(cfg, train, val, device, partial))
    weights = folder / "teacher.safetensors"
    teacher = CLIPTeacher(cfg.teacher_name, weights=weights).to(device).freeze()
    history = json.loads((folder / "teacher.json").read_text())["history"]
    return teacher, {"name": cfg.teacher_name, "pretrained": None, "weights": str(weights), "history": history}


def cached_teacher(cfg: RegionTeacherConfig, device: torch.device) -> tuple[CLIPTeacher, dict]:
    """The teacher for a later chapter (02, 04, 05, 06): the cached one, trained first if there is none."""
    if cfg.teacher_pretrained or (cache_dir() / "clip_kd_teacher" / _teacher_key(cfg)).is_dir():
        return get_teacher(cfg, None, None, device)  # nothing is trained: no regions needed
    train, val = load_regions(cfg, resolve_coco_root(cfg))
    return get_teacher(cfg, train, val, device)


def _train_teacher(cfg: RegionTeacherConfig, train: COCORegionTextDataset, val: COCORegionTextDataset,
                   device: torch.device, folder: Path) -> None:
    """The smoke teacher, trained contrastively on region crops and captions into the cache ``folder``."""
    seed_everything(cfg.seed)
    teacher = CLIPTeacher(cfg.teacher_name).to(device)
    history = train_region_clip(teacher, train, val, cfg.teacher_epochs, cfg.teacher_lr, cfg.batch_size,
                                cfg.temperature, device, cfg.seed, folder / "checkpoints")
    # metadata first, weights last: the folder is complete only when both are there (and renamed)
    write_json(folder / "teacher.json", {"config": cfg.to_dict(), "history": history})
    save_weights(teacher.model, folder / "teacher.safetensors")
