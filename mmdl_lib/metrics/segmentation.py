"""Semantic segmentation quality (chapter 04): a confusion matrix accumulated over images and the
per-class IoU / mIoU read from it, as mmsegmentation's ``IoUMetric`` computes them (pixels labelled
``ignore_index`` are not counted; a class absent from both prediction and ground truth has no IoU
and is left out of the mean).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(prediction: np.ndarray, target: np.ndarray, num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows = ground truth, columns = prediction."""
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction of shape {prediction.shape} for a label map of shape {target.shape}")
    keep = target != ignore_index
    bad = np.setdiff1d(np.unique(target[keep]), np.arange(num_classes))
    if bad.size:
        raise ValueError(f"label values {bad[:10].tolist()} are neither a class (0..{num_classes - 1}) nor "
                         f"ignore ({ignore_index})")
    pairs = target[keep].astype(np.int64) * num_classes + prediction[keep].astype(np.int64)
    return np.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """IoU per class (NaN where the class is in neither prediction nor ground truth)."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """The mean of :func:`class_iou` over the classes that occur."""
    return float(np.nanmean(class_iou(confusion)))


def majority_class_miou(labels: list[np.ndarray], num_classes: int, ignore_index: int = 255) -> float:
    """The mIoU of predicting the most frequent class everywhere: the chance level mIoU is read against."""
    counts = np.bincount(np.concatenate([lab[lab < num_classes].ravel() for lab in labels]), minlength=num_classes)
    confusion = sum(confusion_matrix(np.full_like(lab, int(counts.argmax())), lab, num_classes, ignore_index)
                    for lab in labels)
    return mean_iou(confusion)
