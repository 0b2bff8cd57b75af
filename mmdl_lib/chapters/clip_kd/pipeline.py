"""Chapter 01: CLIP → ConvNeXt knowledge distillation on region crops (seed 000, stage 1).

The notebook calls these steps in order: the region-CLIP teacher's
:func:`~mmdl_lib.region_clip.resolve_coco_root`, :func:`~mmdl_lib.region_clip.load_regions`,
:func:`~mmdl_lib.region_clip.get_teacher` and :func:`~mmdl_lib.region_clip.teacher_targets`, then
:func:`train_student` (once per loss combination / variant), :func:`~mmdl_lib.region_clip.embed_regions` +
:func:`~mmdl_lib.metrics.retrieval.region_retrieval_report`,
:func:`~mmdl_lib.metrics.cost.teacher_student_cost`, :func:`deployment_pair` (the full profile's
architectures), :func:`export_student` (ONNX, parity, runtimes), :func:`save_outputs`. Chapter 02
builds on the saved students.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from ...data.coco_regions import COCORegionTextDataset, PlainRegionCrops
from ...deploy.onnx import deployment_pair_cost, export_checked
from ...engine import fit
from ...engine.trainer import one_cycle_adamw
from ...losses.distillation import DistillationLosses
from ...metrics.retrieval import region_retrieval_report
from ...models.student import StudentConfig, build_student, save_student
from ...models.teacher import CLIPTeacher
from ...region_clip import TeacherTargets, embed_regions
from ...runtime import seed_everything
from .config import LOSS_COMBINATIONS, ClipKDConfig

__all__ = ["LOSS_COMBINATIONS", "ClipKDConfig", "student_config", "train_student", "export_student",
           "deployment_pair", "save_outputs"]


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
    fastest runtime, the two timed in turns (:func:`~mmdl_lib.deploy.onnx.deployment_pair_cost`; its
    ``"latency ratio"`` row holds the ratio's interval). The graphs (~0.5 GB) are written to a
    temporary folder and removed."""
    full = ClipKDConfig.from_profile("full")
    teacher = CLIPTeacher(full.teacher_name)
    student = build_student(StudentConfig(backbone=full.backbone, embed_dim=teacher.embed_dim,
                                          image_size=full.image_size, pretrained=False))
    models = {f"teacher image tower ({full.teacher_name})": teacher.image_encoder(),
              f"student ({full.backbone})": student}
    with tempfile.TemporaryDirectory(prefix="mmdl-deploy-") as folder:
        return deployment_pair_cost(models, (full.image_size, full.image_size), folder, batch, repeats)


def save_outputs(folder: Path, student: torch.nn.Module, teacher_info: dict, cfg: ClipKDConfig) -> Path:
    """Distilled weights + config where chapter 02 finds them (the newest run, or a path)."""
    return save_student(student, folder, {"teacher": {k: v for k, v in teacher_info.items() if k != "history"},
                                          "chapter01_config": cfg.to_dict()})
