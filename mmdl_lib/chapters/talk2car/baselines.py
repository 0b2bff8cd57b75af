"""Trivial grounding baselines, the floor every model must beat (chapter 02).

Both return normalised ``[x, y, w, h]`` boxes, one per command, like a trained model;
:func:`baseline_predictions` answers the validation commands and :func:`baseline_metrics` scores them.
"""

from __future__ import annotations

import torch

from ...data.talk2car import Talk2CarDataset, Talk2CarSplits, normalize_box, read_objects_sidecar
from ...metrics.boxes import grounding_metrics


def centre_prior(train_boxes: torch.Tensor, n: int) -> torch.Tensor:
    """The mean training box, for every one of ``n`` commands."""
    return train_boxes.mean(dim=0, keepdim=True).expand(n, 4)


def largest_object(dataset: Talk2CarDataset, objects: dict[str, list[dict]]) -> torch.Tensor:
    """The biggest candidate object of each command's image (``objects``: image name → ``[{"box"}]``
    in pixels; an image without candidates answers with the whole image)."""
    boxes = []
    for item in dataset.items:
        width, height = item.image_size
        candidates = objects.get(item.image.name) or [{"box": [0, 0, width, height]}]
        boxes.append(normalize_box(max((c["box"] for c in candidates), key=lambda b: b[2] * b[3]), width, height))
    return torch.tensor(boxes)


def baseline_predictions(splits: Talk2CarSplits) -> dict[str, torch.Tensor]:
    """The baselines' boxes for the validation commands: the mean training box, and the largest
    object (when the synthetic world's object list gives the candidates)."""
    out = {"centre prior": centre_prior(splits.train.boxes[splits.train_idx], len(splits.val))}
    objects = read_objects_sidecar(splits.val)
    if objects is not None:
        out["largest object"] = largest_object(splits.val, objects)
    return out


def baseline_metrics(splits: Talk2CarSplits) -> dict[str, dict[str, float]]:
    """The baselines (:func:`baseline_predictions`) scored on the validation split."""
    return {name: grounding_metrics(pred, splits.val.boxes) for name, pred in baseline_predictions(splits).items()}
