"""Chapter 01: CLIP → ConvNeXt knowledge distillation on region crops (seed 000, stage 1).

The notebook calls these steps in order: :func:`resolve_coco_root`, :func:`load_regions`,
:func:`get_teacher`, :func:`~mmdl_lib.engine.region_clip.teacher_targets`, :func:`train_student` (once
per loss combination / variant), :func:`~mmdl_lib.engine.region_clip.embed_regions` +
:func:`~mmdl_lib.metrics.retrieval.region_retrieval_report`,
:func:`~mmdl_lib.metrics.cost.teacher_student_cost`, :func:`deployment_pair` (the full profile's
architectures), :func:`export_student` (ONNX, parity, runtimes), :func:`save_outputs`. Chapter 02
builds on the saved students.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch

from .. import __version__
from ..cache import cache_key, cached_folder
from ..config import StageConfig
from ..data.coco_regions import COCORegionTextDataset, PlainRegionCrops, get_augmented_transform
from ..deploy.onnx import export_checked, image_model_deployment
from ..engine import fit
from ..engine.checkpoint import save_weights
from ..engine.region_clip import TeacherTargets, embed_regions, train_region_clip
from ..engine.trainer import one_cycle_adamw
from ..errors import ConfigError, DataFormatError
from ..io import write_json
from ..losses.distillation import DistillationLosses
from ..metrics.retrieval import region_retrieval_report
from ..models.student import StudentConfig, build_student, save_student
from ..models.teacher import CLIPTeacher, random_teacher_weights
from ..paths import cache_dir, dataset_root
from ..runtime import seed_everything
from ..synth import WORLD_VERSION

LOSS_COMBINATIONS = {"all three": (1.0, 1.0, 1.0), "L_clip only": (1.0, 0.0, 0.0), "L_sim only": (0.0, 1.0, 0.0),
                     "L_cos only": (0.0, 0.0, 1.0)}


@dataclass
class ClipKDConfig(StageConfig):
    data_root: str | None = None  # COCO 2017 root; None → the synthetic world (smoke) or $MMDL_DATA/coco (full)
    synthetic_preset: str = "smoke"
    # teacher: any open_clip model + pretrained tag; without a tag (smoke) it is trained here first.
    # ViT-B/16 costs ~2.5× ConvNeXt-Tiny's FLOPs at 224 px (ViT-B/32 about 1×): a student worth deploying
    teacher_name: str = "ViT-B-16"
    teacher_pretrained: str | None = "laion2b_s34b_b88k"
    teacher_epochs: int = 0
    teacher_lr: float = 1e-3
    # student
    backbone: str = "convnext_tiny"
    student_pretrained: bool = True
    image_size: int = 224
    min_window: int = 64
    context: float = 0.25
    epochs: int = 10
    batch_size: int = 256
    lr: float = 5e-4
    weight_decay: float = 0.05
    w_clip: float = 1.0
    w_sim: float = 1.0
    w_cos: float = 1.0
    temperature: float = 0.07
    kd_temperature: float = 0.1
    ablation: bool = True
    multiscale_variant: bool = True
    max_regions: int | None = None
    num_workers: int = 4
    latency_batches: list[int] = field(default_factory=lambda: [1, 32])  # the ONNX runtimes are timed at these
    latency_repeats: int = 5  # timed calls per measurement (median)

    PROFILES = {
        "smoke": {"teacher_name": "mmdl-vit-tiny-teacher", "teacher_pretrained": None, "teacher_epochs": 12,
                  "teacher_lr": 2e-3, "backbone": "convnext_atto", "student_pretrained": False, "image_size": 48,
                  "min_window": 40, "epochs": 6, "batch_size": 128, "lr": 3e-3, "num_workers": 0},
        "full": {},
    }
    # the full profile on a CPU: random teacher and student, 8 regions a split, 2 steps an epoch
    REHEARSAL = {"teacher_pretrained": None, "student_pretrained": False, "epochs": 1, "batch_size": 4,
                 "max_regions": 8, "latency_batches": [1, 2],
                 "latency_repeats": 1}


CONFIG = ClipKDConfig


def resolve_coco_root(cfg: ClipKDConfig) -> Path:
    root = dataset_root(cfg.data_root, cfg.synthetic, "coco", cfg.synthetic_preset, cfg.seed)
    if cfg.synthetic and not cfg.data_root:
        return root
    if not (root / "annotations" / "instances_train2017.json").is_file():
        raise DataFormatError(root / "annotations" / "instances_train2017.json",
                              "COCO 2017 not found: download train2017/, val2017/ and annotations/ there, "
                              "or pass data_root")
    return root


def load_regions(cfg: ClipKDConfig, root: Path) -> tuple[COCORegionTextDataset, COCORegionTextDataset]:
    preload = cfg.profile == "smoke"
    common = dict(image_size=cfg.image_size, context=cfg.context, min_window=cfg.min_window, preload=preload,
                  max_regions=cfg.max_regions)
    train = COCORegionTextDataset(root, "train", transform=get_augmented_transform(cfg.image_size), **common)
    val = COCORegionTextDataset(root, "val", **common)
    return train, val


def _teacher_key(cfg: ClipKDConfig) -> str:
    fields = {k: getattr(cfg, k) for k in ("teacher_name", "teacher_epochs", "teacher_lr", "image_size",
                                           "min_window", "context", "synthetic_preset", "seed", "max_regions",
                                           "batch_size", "temperature")}
    fields.update(world=WORLD_VERSION, lib=__version__, data_root=cfg.data_root,
                  model=open_clip.get_model_config(cfg.teacher_name))
    return cache_key(fields)


def get_teacher(cfg: ClipKDConfig, train: COCORegionTextDataset | None, val: COCORegionTextDataset | None,
                device: torch.device) -> tuple[CLIPTeacher, dict]:
    """The frozen teacher, and how it was obtained.

    With a pretrained tag it is loaded as published. Without one (smoke) it is trained
    contrastively on the training regions and their captions, cached under a key of its config,
    the data and the library version, and reused by later runs and by chapter 02. Teacher and
    student see the same crops, so ``image_size`` must be the teacher's input size.
    """
    teacher, info = _teacher(cfg, train, val, device)
    if teacher.image_size != cfg.image_size:
        raise ConfigError(f"image_size {cfg.image_size}: the teacher {cfg.teacher_name} takes {teacher.image_size}-px "
                          f"crops (its position embeddings), and the student sees the same crops; "
                          f"set image_size={teacher.image_size}")
    return teacher, info


def _teacher(cfg: ClipKDConfig, train: COCORegionTextDataset | None, val: COCORegionTextDataset | None,
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


def cached_teacher(cfg: ClipKDConfig, device: torch.device) -> tuple[CLIPTeacher, dict]:
    """Chapter 01's teacher for a later chapter (05): the cached one, trained first if there is none."""
    if cfg.teacher_pretrained or (cache_dir() / "clip_kd_teacher" / _teacher_key(cfg)).is_dir():
        return get_teacher(cfg, None, None, device)  # nothing is trained: no regions needed
    train, val = load_regions(cfg, resolve_coco_root(cfg))
    return get_teacher(cfg, train, val, device)


def _train_teacher(cfg: ClipKDConfig, train: COCORegionTextDataset, val: COCORegionTextDataset,
                   device: torch.device, folder: Path) -> None:
    """The smoke teacher, trained contrastively on region crops and captions into the cache ``folder``."""
    seed_everything(cfg.seed)
    teacher = CLIPTeacher(cfg.teacher_name).to(device)
    history = train_region_clip(teacher, train, val, cfg.teacher_epochs, cfg.teacher_lr, cfg.batch_size,
                                cfg.temperature, device, cfg.seed, folder / "checkpoints")
    # metadata first, weights last: the folder is complete only when both are there (and renamed)
    write_json(folder / "teacher.json", {"config": cfg.to_dict(), "history": history})
    save_weights(teacher.model, folder / "teacher.safetensors")


def student_config(cfg: ClipKDConfig, embed_dim: int, multiscale: bool = False) -> StudentConfig:
    return StudentConfig(backbone=cfg.backbone, embed_dim=embed_dim, image_size=cfg.image_size, multiscale=multiscale,
                         pretrained=cfg.student_pretrained)


def train_student(cfg: ClipKDConfig, train: COCORegionTextDataset, val: COCORegionTextDataset,
                  targets: TeacherTargets, device: torch.device, weights: tuple[float, float, float] | None = None,
                  multiscale: bool = False, checkpoint_dir: Path | None = None, desc: str = "student"):
    """Distil the teacher into a ConvNeXt student; returns the student and its history."""
    seed_everything(cfg.seed)
    w_clip, w_sim, w_cos = weights or (cfg.w_clip, cfg.w_sim, cfg.w_cos)
    losses = DistillationLosses(w_clip, w_sim, w_cos, cfg.temperature, cfg.kd_temperature)
    student = build_student(student_config(cfg, targets.train_image.shape[1], multiscale))
    train_image, train_text = targets.train_image.to(device), targets.train_text.to(device)

    def loss_fn(model, batch):
        emb = model(batch["image"])
        return losses(emb.float(), train_image[batch["index"]], train_text[batch["caption"]], batch["caption"])

    def evaluate(model):
        report = region_retrieval_report(embed_regions(model, val, device), targets.val_text, val, ks=(5,))
        return {"val_t2r_R@5": report["t2r_R@5"], "val_r2t_R@5": report["r2t_R@5"]}

    optimizer, scheduler = one_cycle_adamw(student.parameters(), cfg.lr, cfg.epochs, len(train), cfg.batch_size,
                                           weight_decay=cfg.weight_decay, pct_start=0.15)
    history = fit(student, optimizer, loss_fn, train, epochs=cfg.epochs, batch_size=cfg.batch_size, device=device,
                  seed=cfg.seed, scheduler=scheduler, evaluate=evaluate, checkpoint_dir=checkpoint_dir, desc=desc,
                  settings={**cfg.fingerprint(), "loss_weights": [w_clip, w_sim, w_cos], "multiscale": multiscale})
    return student, history


def export_student(student: torch.nn.Module, val: COCORegionTextDataset, folder: Path,
                   batches: list[int] | tuple[int, ...] = (1, 32), repeats: int = 5) -> dict[str, Any]:
    """The distilled student as ONNX (``folder/student.onnx``): its parity with PyTorch on up to 64
    validation crops, and milliseconds per crop in PyTorch eager, channels-last and onnxruntime."""
    crops = PlainRegionCrops(val).batch(max(*batches, min(64, len(val)), 2))  # timing cycles through distinct crops
    return export_checked(student, [crops], folder / "student.onnx", ["images"], ["embedding"], batches, repeats,
                          checked=min(64, len(val)))


def deployment_pair(repeats: int = 3, batch: int = 1) -> dict[str, dict[str, Any]]:
    """What the car would run: the full profile's teacher image tower and student at their full input
    size, random weights (cost does not depend on them), at ``batch`` on this CPU, each in its
    fastest runtime (:func:`~mmdl_lib.deploy.onnx.image_model_deployment`). The graphs (~0.5 GB)
    are written to a temporary folder and removed."""
    full = ClipKDConfig.from_profile("full")
    size = (full.image_size, full.image_size)
    teacher = CLIPTeacher(full.teacher_name)
    student = build_student(StudentConfig(backbone=full.backbone, embed_dim=teacher.embed_dim,
                                          image_size=full.image_size, pretrained=False))
    with tempfile.TemporaryDirectory(prefix="mmdl-deploy-") as folder:
        return {f"teacher image tower ({full.teacher_name})":
                image_model_deployment(teacher.image_encoder(), size, Path(folder) / "teacher.onnx", batch, repeats),
                f"student ({full.backbone})":
                image_model_deployment(student, size, Path(folder) / "student.onnx", batch, repeats)}


def save_outputs(folder: Path, student: torch.nn.Module, teacher_info: dict, cfg: ClipKDConfig) -> Path:
    """Distilled weights + config where chapter 02 finds them (the newest run, or a path)."""
    return save_student(student, folder, {"teacher": {k: v for k, v in teacher_info.items() if k != "history"},
                                          "chapter01_config": cfg.to_dict()})


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    students, chance = metrics["students"], metrics["chance"]
    return {"student text→region R@5 above twice chance": students["all three"]["t2r_R@5"] > 2 * chance["t2r_R@5"],
            "every loss alone above chance": all(students[k]["t2r_R@5"] > chance["t2r_R@5"]
                                                 for k in LOSS_COMBINATIONS if k in students),
            "ONNX student matches PyTorch (cosine ≥ 0.999)": metrics["onnx"]["parity"]["min_cosine"] >= 0.999}
