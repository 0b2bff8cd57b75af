"""Training and inference helpers for mmdet3d detectors on the book's KITTI samples (chapter 03).

Samples come from :func:`.frames.detector_sample`; batches are collated by
:func:`~.frames.collate_samples` (which refuses frames that lost their ground
truth); the training loop is the book's :func:`~mmdl_lib.engine.trainer.fit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ... import __version__
from ...cache import cache_key, cached_folder
from ...engine.checkpoint import save_weights
from ...engine.trainer import fit, one_cycle_adamw
from ...metrics.kitti3d import detection_annotation, gt_annotation, kitti_ap
from ...openmmlab import op_status
from ...openmmlab.checkpoints import load_detector_weights
from ...progress import tqdm
from .frames import KittiFrame, collate_samples, has_points
from .kd_losses import KDWeights

if TYPE_CHECKING:
    from mmengine.structures import InstanceData


def detector_loss(model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    """The detector's own losses on a raw batch (classification, boxes, direction) and their sum."""
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data["inputs"], data["data_samples"])
    terms = {name.removeprefix("loss_"): sum(v) if isinstance(v, (list, tuple)) else v
             for name, v in losses.items() if name.startswith("loss")}
    terms["total"] = sum(terms.values())
    return terms


def train_detector(model: torch.nn.Module, samples: list[dict], epochs: int, lr: float, batch_size: int,
                   device: torch.device, seed: int = 0, checkpoint_dir=None, desc: str = "detector") -> list[dict]:
    """The detector's own losses over ``samples`` with AdamW and a one-cycle schedule (the book's ``fit``)."""

    optimizer, scheduler = one_cycle_adamw(model.parameters(), lr, epochs, len(samples), batch_size)
    return fit(model, optimizer, detector_loss, samples, epochs=epochs, batch_size=batch_size, device=device,
               seed=seed, collate_fn=collate_samples, scheduler=scheduler, checkpoint_dir=checkpoint_dir,
               amp=False, desc=desc)


def cached_trained_detector(model: torch.nn.Module, samples: list[dict], epochs: int, lr: float, batch_size: int,
                            device: torch.device, seed: int = 0, settings: dict[str, Any] | None = None,
                            kind: str = "pseudo_lidar_teacher", desc: str = "teacher",
                            file: str = "teacher.safetensors") -> list[dict]:
    """:func:`train_detector` on ``samples`` once, then load from the cache: the entry is keyed by the
    training settings, the caller's ``settings`` (config, data), the frames, the book's version and
    which OpenMMLab ops ran (other ops train another detector). Loads ``model``'s weights in place and
    returns the history (empty when loaded; chapter 03's teacher)."""

    history: list[dict] = []

    def train_it(folder: Path) -> None:
        history.extend(train_detector(model, samples, epochs, lr, batch_size, device, seed, folder / "checkpoints",
                                      desc=desc))
        save_weights(model, folder / file)

    key = cache_key({**(settings or {}), "epochs": epochs, "lr": lr, "batch": batch_size, "seed": seed,
                     "lib": __version__, "frames": [s["data_sample"].metainfo["sample_idx"] for s in samples],
                     "ops": op_status(), "deterministic": device.type == "cpu"})
    folder, built = cached_folder(kind, key, train_it)
    if not built:
        load_detector_weights(model, folder / file)
    return history


def train_kd_phases(kd, samples: list[dict], phases: list[tuple[int, Any]], lr: float, batch_size: int,
                    device: torch.device, seed: int = 0, use: tuple[str, ...] = ("det", "feat", "logit"),
                    checkpoint_dir=None, settings: dict | None = None, desc: str = "student") -> list[dict]:
    """Train a :class:`~.kd_model.PseudoLidarKD` student through ``phases``
    ((epochs, :class:`~.kd_losses.KDWeights`) each, a fresh one-cycle schedule per
    phase); terms not in ``use`` get weight 0 (the ablations). Returns every step's loss terms
    (unweighted), with its phase."""

    history: list[dict] = []
    trainable = [p for n, p in kd.named_parameters() if not n.startswith("teacher.")]
    for phase, (epochs, weights) in enumerate(phases, 1):
        kd.weights = KDWeights(*(getattr(weights, name) if name in use else 0.0 for name in ("det", "feat", "logit")))
        optimizer, scheduler = one_cycle_adamw(trainable, lr, epochs, len(samples), batch_size)
        steps: list[dict] = []
        fit(kd, optimizer, lambda model, batch: model.terms(batch), samples, epochs=epochs, batch_size=batch_size,
            device=device, seed=seed + phase, collate_fn=collate_samples, scheduler=scheduler, amp=False,
            desc=f"{desc} phase {phase}", step_log=steps,
            checkpoint_dir=Path(checkpoint_dir) / f"phase{phase}" if checkpoint_dir else None,
            settings={**(settings or {}), "use": list(use), "phase": phase})
        history += [{**row, "phase": phase} for row in steps]
    return history


@torch.no_grad()
def predict_samples(model: torch.nn.Module, samples: list[dict], batch_size: int = 8,
                    desc: str = "predict") -> list[Any]:
    """``pred_instances_3d`` (``bboxes_3d``, ``scores_3d``, ``labels_3d``, on the CPU) of every sample;
    a sample whose cloud has no point in range (:func:`has_points`) has no detection."""
    model.eval()
    runnable = [s for s in samples if has_points(s)]
    found = {}
    for start in tqdm(range(0, len(runnable), batch_size), desc=desc):
        chunk = runnable[start:start + batch_size]
        data = model.data_preprocessor(collate_samples(chunk), False)
        for sample, result in zip(chunk, model.predict(data["inputs"], data["data_samples"])):
            found[id(sample)] = result.pred_instances_3d.to("cpu")
    return [found[id(s)] if id(s) in found else no_detections(s) for s in samples]


def no_detections(sample: dict) -> InstanceData:
    """Empty ``pred_instances_3d`` in the sample's box type."""
    from mmengine.structures import InstanceData

    return InstanceData(bboxes_3d=sample["data_sample"].metainfo["box_type_3d"](torch.zeros((0, 7))),
                        scores_3d=torch.zeros(0), labels_3d=torch.zeros(0, dtype=torch.long))


def evaluate_kitti(model: torch.nn.Module, frames: list[KittiFrame], samples: list[dict],
                   point_range: tuple[float, ...], classes: tuple[str, ...], desc: str = "evaluate") -> tuple[dict, list]:
    """KITTI AP|R40 of ``model`` on ``samples`` (one per frame, same order) against the frames' own
    ``label_2`` (mmdet3d's ``kitti_eval``), and the predictions."""
    predictions = predict_samples(model, samples, desc=desc)
    gts, dts = kitti_annotations(frames, predictions, point_range, classes)
    return kitti_ap(gts, dts, classes), predictions


def kitti_annotations(frames: list[KittiFrame], predictions: list[Any], point_range: tuple[float, ...],
                      classes: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """The frames' ``label_2`` and ``predictions`` (one per frame) as ``kitti_eval``'s ground-truth and
    detection dicts: what :func:`evaluate_kitti` scores."""
    gts = [gt_annotation(f.objects) for f in frames]
    dts = [detection_annotation(p.bboxes_3d, p.scores_3d, p.labels_3d, f.calib, f.size, classes, point_range)
           for p, f in zip(predictions, frames)]
    return gts, dts
