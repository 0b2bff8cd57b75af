"""Chapter 03: pseudo-LiDAR knowledge distillation for KITTI 3D detection with MVX-Net (seed 001).

Steps the notebook calls: :func:`load_frames`, :func:`depth_network` (GLPN: KITTI weights, or the
small one trained here and cached), :func:`predict_depths`, :func:`~.pseudo_lidar.scale_from_scans`,
:func:`pseudo_clouds` (written as velodyne ``.bin`` files), :func:`samples` (the same labels for
every point source), :func:`get_teacher` (image + real LiDAR; cached), :func:`distil_students`
(image + pseudo-LiDAR, the seed's two-phase KD schedule, one student per variant; also
on :func:`true_depth_clouds`; over several seeds for the spread), :func:`evaluate` (mmdet3d's
KITTI AP|R40) and :func:`depth_error_tolerance` (the teacher under per-object depth errors); the
seed's parameter table is :func:`~.detectors.kitti_parameter_table`
and the frame from another camera :func:`~.frames.other_camera_frame`.
Models, losses, metrics and figures live in their modules.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...data.kitti import read_depth_maps
from ...openmmlab import build_model, load_config, load_openmmlab_checkpoint
from ...runtime import seed_everything
from ...synth import WORLD_VERSION, dataset_root
from .config import CONFIG, PseudoLidarKDConfig, smoke_checks
from .depth_metrics import object_depth_errors
from .depth_network import build_glpn, cached_trained_glpn, network_size, predict_depth
from .detector_training import cached_trained_detector, evaluate_kitti, train_kd_phases
from .frames import KITTI_CLASSES, KittiFrame, detector_sample, frame_images, load_split, require_ground_truth
from .kd_model import PseudoLidarKD
from .pseudo_lidar import clouds_from_depths, perturb_object_depths, true_depth_clouds as true_depth_points

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "PseudoLidarKDConfig", "smoke_checks"]


def resolve_kitti_root(cfg: PseudoLidarKDConfig) -> Path:
    return dataset_root(cfg.data_root, cfg.synthetic, "kitti", cfg.synthetic_preset, cfg.seed)


def load_frames(cfg: PseudoLidarKDConfig, root: Path) -> dict[str, list[KittiFrame]]:
    """The train and val frames (``ImageSets``), at most ``cfg.max_frames`` each."""
    return {split: load_split(root, split, cfg.max_frames) for split in ("train", "val")}


def depth_network(cfg: PseudoLidarKDConfig, train: list[KittiFrame], root: Path, device: torch.device):
    """GLPN with KITTI weights (full), or GLPN trained on the training frames' ``depth_2`` maps with its
    scale-invariant log loss and ``depth_gradient_weight`` × the gradient-matching loss (smoke's small
    one), cached under its settings and data; with neither weights nor epochs (the rehearsal) the
    random network."""
    if cfg.depth_pretrained or not cfg.depth_epochs:
        return build_glpn(cfg.depth_architecture, pretrained=cfg.depth_pretrained).to(device)
    frames = [f.frame for f in train]
    data = lambda: (frame_images(train), torch.from_numpy(read_depth_maps(root, frames, train[0].size)))
    return cached_trained_glpn(cfg.depth_architecture, data, network_size((cfg.depth_width, cfg.depth_height)),
                               cfg.depth_epochs, cfg.depth_lr, cfg.depth_batch_size, device, cfg.seed,
                               {"root": str(root), "preset": cfg.synthetic_preset, "world": WORLD_VERSION,
                                "lib": __version__, "frames": frames}, cfg.depth_gradient_weight).to(device)


def predict_depths(cfg: PseudoLidarKDConfig, model, frames: list[KittiFrame], device: torch.device) -> np.ndarray:
    return predict_depth(model, frame_images(frames), network_size((cfg.depth_width, cfg.depth_height)), device,
                         max_depth=cfg.depth_max_depth)


def pseudo_clouds(cfg: PseudoLidarKDConfig, depths: np.ndarray, frames: list[KittiFrame], scale: float,
                  out: Path | None = None) -> list[np.ndarray]:
    """Pseudo-LiDAR of every frame (the seed's fixes as parameters); written as ``<out>/<frame>.bin``."""
    return clouds_from_depths(depths, [f.calib for f in frames], [f.size for f in frames], scale, cfg.keep_ratio,
                              cfg.pseudo_intensity, cfg.max_point_depth, cfg.seed,
                              [out / f"{f.frame}.bin" for f in frames] if out is not None else None)


def samples(cfg: PseudoLidarKDConfig, frames: list[KittiFrame], clouds: list[np.ndarray] | None,
            source: str, point_range: tuple[float, ...], image_scale: float | None = None) -> list[dict]:
    """Detector samples of one point source (``clouds`` None → the real scans), labels the frames' own."""
    scale = cfg.image_scale if image_scale is None else image_scale
    return [detector_sample(f, f.points_in_view() if clouds is None else c, source, KITTI_CLASSES, scale, point_range)
            for f, c in zip(frames, clouds if clouds is not None else [None] * len(frames))]


def detector_settings(cfg: PseudoLidarKDConfig):
    config = load_config(cfg.detector_config)
    return config, tuple(float(v) for v in config.point_cloud_range)


def get_teacher(cfg: PseudoLidarKDConfig, train: list[dict], device: torch.device) -> tuple[torch.nn.Module, list]:
    """The image + LiDAR MVX-Net: released weights (``teacher_checkpoint``) or trained here and cached."""
    config, _ = detector_settings(cfg)
    seed_everything(cfg.seed)
    teacher = build_model(config, "mmdet3d")
    if cfg.teacher_checkpoint:
        load_openmmlab_checkpoint(teacher, cfg.teacher_checkpoint, trusted=cfg.trust_checkpoint)
        return teacher.to(device).eval(), []
    require_ground_truth(train, "teacher training set")
    history = cached_trained_detector(teacher, train, cfg.teacher_epochs, cfg.lr, cfg.batch_size, device, cfg.seed,
                                      {"config": config.model.to_dict(), "scale": cfg.image_scale,
                                       "root": cfg.data_root, "preset": cfg.synthetic_preset, "world": WORLD_VERSION})
    return teacher.to(device).eval(), history


def true_depth_clouds(cfg: PseudoLidarKDConfig, root: Path, frames: list[KittiFrame]) -> list[np.ndarray] | None:
    """The frames' true-depth pseudo-LiDAR (``depth_2``), sampled like GLPN's; None without the maps."""
    return true_depth_points(root, frames, cfg.keep_ratio, cfg.pseudo_intensity, cfg.max_point_depth, cfg.seed)


def depth_error_tolerance(cfg: PseudoLidarKDConfig, model: torch.nn.Module, truth: np.ndarray,
                          frames: list[KittiFrame], point_range: tuple[float, ...]) -> dict[float, dict]:
    """``model``'s AP|R40 on true-depth pseudo-LiDAR whose objects each lie ``sd`` off in relative
    depth (:func:`~.pseudo_lidar.perturb_object_depths`), for each of ``cfg.error_sds()``:
    how good a depth network must be, with every shape kept. ``truth``: the frames' depth maps."""
    objects = [f.objects for f in frames]
    scored = {}
    for sd in cfg.error_sds():
        depth = perturb_object_depths(truth, objects, sd, cfg.seed)
        points = samples(cfg, frames, pseudo_clouds(cfg, depth, frames, 1.0), "perturbed true-depth pseudo-lidar",
                         point_range)
        ap, _ = evaluate(model, frames, points, point_range, f"objects ±{sd:.0%}")
        scored[sd] = {"ap": ap, "car_errors": object_depth_errors(depth, truth, objects)}
    return scored


STUDENT_VARIANTS = {"no KD": ("det",), "KD": ("det", "feat", "logit"),
                    "det + feature KD": ("det", "feat"), "det + logit KD": ("det", "logit")}


def distil_students(cfg: PseudoLidarKDConfig, teacher_kd: PseudoLidarKD, variants: dict[str, tuple[str, ...]],
                    train: list[dict], val: list[dict], val_frames: list[KittiFrame], point_range: tuple[float, ...],
                    device: torch.device, checkpoint_dir: Path | None = None, prefix: str = "student",
                    seeds: list[int] | None = None, seconds: dict[str, float] | None = None):
    """One student per variant (the KD terms it uses; the others weigh 0), each a copy of the teacher
    (:meth:`~.kd_model.PseudoLidarKD.fresh_student`: ``teacher_kd``'s projection,
    temperature and cached teacher outputs) fine-tuned on ``train`` through ``cfg.phases()`` and scored on ``val``; with ``seeds``, once per seed (keys end ``", seed <n>"``): on a
    small validation set one seed's difference is a few boxes, the spread says what is noise.
    Returns histories, students, AP|R40 results and predictions, keyed ``"<prefix>, <variant>"``;
    ``seconds``, when given, receives each student's wall time (training and scoring): what one more
    seed costs."""
    require_ground_truth(train, "student training set")
    histories, students, results, predictions = {}, {}, {}, {}
    for seed in seeds or [cfg.seed]:
        for variant, use in variants.items():
            name = f"{prefix}, {variant}" + (f", seed {seed}" if seeds else "")
            started = time.perf_counter()
            seed_everything(seed)  # what construction draws (a projection between unequal widths): the seed's
            kd = teacher_kd.fresh_student()
            folder = checkpoint_dir / name.replace(" ", "_") if checkpoint_dir else None
            histories[name] = train_kd_phases(kd, train, cfg.phases(), cfg.student_lr, cfg.batch_size, device, seed,
                                              use, folder, cfg.fingerprint(), name)
            students[name] = kd.student
            results[name], predictions[name] = evaluate(kd.student, val_frames, val, point_range, name)
            if seconds is not None:
                seconds[name] = time.perf_counter() - started
    return histories, students, results, predictions


def student_seed_results(cfg: PseudoLidarKDConfig, teacher_kd: PseudoLidarKD,
                         point_sets: dict[str, tuple[list[dict], list[dict]]], results: dict[str, dict],
                         val_frames: list[KittiFrame], point_range: tuple[float, ...], device: torch.device,
                         seconds: dict[str, float] | None = None) -> dict[str, dict]:
    """AP|R40 of the no-KD and KD students once per seed of ``cfg.student_seeds`` on each point source
    (``{prefix: (train, val)}``), keyed ``"<prefix>, <variant>, seed <n>"``. The chapter's own seed is
    not trained again: its students are ``results["<prefix>, <variant>"]``."""
    seeded: dict[str, dict] = {}
    variants = {k: STUDENT_VARIANTS[k] for k in ("no KD", "KD")}
    others = [s for s in cfg.student_seeds or [] if s != cfg.seed]
    for prefix, (train_set, val_set) in point_sets.items():
        if cfg.seed in (cfg.student_seeds or []):
            seeded.update({f"{prefix}, {v}, seed {cfg.seed}": results[f"{prefix}, {v}"] for v in variants})
        if others:
            seeded.update(distil_students(cfg, teacher_kd, variants, train_set, val_set, val_frames, point_range,
                                          device, prefix=prefix, seeds=others, seconds=seconds)[2])
    return seeded


def evaluate(model: torch.nn.Module, frames: list[KittiFrame], samples_: list[dict],
             point_range: tuple[float, ...], desc: str = "evaluate") -> tuple[dict, list]:
    """KITTI AP|R40 of ``model`` on ``samples_`` (mmdet3d's ``kitti_eval``) and its predictions."""
    return evaluate_kitti(model, frames, samples_, point_range, KITTI_CLASSES, desc)
