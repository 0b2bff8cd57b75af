"""Pixel-level out-of-distribution metrics (chapter 04, TDOS): AUROC, average precision and the false
positive rate at 95 % true positive rate, with the anomaly as the positive class and void pixels
ignored, as Fishyscapes, Road Anomaly and SegmentMeIfYouCan score them. Computed with
scikit-learn's ``roc_auc_score``, ``average_precision_score`` and ``roc_curve``.
"""

from __future__ import annotations

import numpy as np

IN_DISTRIBUTION, ANOMALY, VOID = 0, 1, 255


def scored_pixels(scores: np.ndarray, labels: np.ndarray, ignore_index: int = VOID) -> tuple[np.ndarray, np.ndarray]:
    """Flatten anomaly ``scores`` and 0/1 ``labels`` of the same shape, dropping ``ignore_index`` pixels.

    Raises ``ValueError`` on a shape mismatch, on a label that is neither 0, 1 nor void, and when the
    scored pixels lack either class (AUROC and AP are undefined then).
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"anomaly scores of shape {scores.shape} for labels of shape {labels.shape}")
    unknown = np.setdiff1d(np.unique(labels), [IN_DISTRIBUTION, ANOMALY, ignore_index])
    if unknown.size:
        raise ValueError(f"OOD labels must be {IN_DISTRIBUTION} (in-distribution), {ANOMALY} (anomaly) or "
                         f"{ignore_index} (void); found {unknown[:10].tolist()}")
    keep = labels != ignore_index
    scores, labels = scores[keep].astype(np.float64), labels[keep].astype(np.int64)
    if not np.isfinite(scores).all():
        raise ValueError("anomaly scores hold NaN or infinite values")
    for value, name in ((ANOMALY, "anomaly"), (IN_DISTRIBUTION, "in-distribution")):
        if not (labels == value).any():
            raise ValueError(f"no {name} pixel outside void: AUROC and AP need both classes")
    return scores, labels


def fpr_at_tpr(scores: np.ndarray, labels: np.ndarray, tpr: float = 0.95) -> float:
    """False positive rate at the highest threshold whose true positive rate reaches ``tpr`` (every
    threshold kept: ``roc_curve``'s default drops collinear points, and the first point past ``tpr``
    can be one of them)."""
    from sklearn.metrics import roc_curve

    false_pos, true_pos, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(false_pos[np.searchsorted(true_pos, tpr, side="left")])


def ood_metrics(scores: np.ndarray, labels: np.ndarray, ignore_index: int = VOID) -> dict[str, float]:
    """``{"auroc", "ap", "fpr95"}`` (fractions) of per-pixel anomaly ``scores`` (higher = more anomalous)
    against ``labels`` (0 in-distribution, 1 anomaly, ``ignore_index`` void), over all given pixels."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    flat_scores, flat_labels = scored_pixels(scores, labels, ignore_index)
    return {"auroc": float(roc_auc_score(flat_labels, flat_scores)),
            "ap": float(average_precision_score(flat_labels, flat_scores)),
            "fpr95": fpr_at_tpr(flat_scores, flat_labels)}
