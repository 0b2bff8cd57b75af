"""Car-classification metrics as the Hecto competition scores them (chapter 06).

- **Log loss**: each row normalised to sum to one, clipped to [1e-15, 1 − 1e-15], then the mean
  negative log-probability of the true class (scikit-learn's ``log_loss`` on normalised rows).
- **Duplicate classes** (five pairs in the real data) are scored as one: their probability
  columns are summed and their labels mapped to the pair's first class before scoring.
- **Calibration**: expected calibration error (ECE) over equal-width confidence bins, and the
  bins themselves for a reliability diagram.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

CLIP = 1e-15


def merge_duplicate_classes(probabilities: np.ndarray, labels: np.ndarray | None,
                            pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Sum each pair's columns into its first and drop the second; labels follow (−1 stays −1)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not pairs:
        return probabilities, labels
    merged = probabilities.copy()
    drop = [b for _, b in pairs]
    for a, b in pairs:
        merged[:, a] += merged[:, b]
    keep = [c for c in range(probabilities.shape[1]) if c not in drop]
    if labels is None:
        return merged[:, keep], None
    target = {b: a for a, b in pairs}
    new_index = {c: i for i, c in enumerate(keep)}
    mapped = np.asarray([new_index[target.get(int(y), int(y))] for y in labels])
    return merged[:, keep], mapped


def competition_log_loss(probabilities: np.ndarray, labels: np.ndarray,
                         pairs: Sequence[tuple[int, int]] = ()) -> float:
    """The competition's multi-class log loss (rows normalised, clipped; duplicate pairs merged)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"expected (n, classes) probabilities for {len(labels)} labels, got {probabilities.shape}")
    if (probabilities < 0).any():
        raise ValueError("probabilities must be non-negative")
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    merged, merged_labels = merge_duplicate_classes(normalised, np.asarray(labels), pairs)
    clipped = np.clip(merged, CLIP, 1 - CLIP)
    return float(-np.log(clipped[np.arange(len(merged_labels)), merged_labels]).mean())


def accuracy(probabilities: np.ndarray, labels: np.ndarray, pairs: Sequence[tuple[int, int]] = ()) -> float:
    merged, merged_labels = merge_duplicate_classes(probabilities, np.asarray(labels), pairs)
    return float((merged.argmax(axis=1) == merged_labels).mean())


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin: count, mean confidence and accuracy of the top-1 prediction."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bins are (lo, hi]; a confidence of exactly 0 cannot occur for a normalised row
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / count
        mean_acc = np.bincount(index, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": mean_acc}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Σ_bins (n_b / n)·|accuracy_b − confidence_b| over equal-width bins of top-1 confidence."""
    bins = reliability_bins(probabilities, labels, n_bins)
    filled = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    return float((bins["count"][filled] * gaps).sum() / bins["count"].sum())


def classification_report(probabilities: np.ndarray, labels: np.ndarray,
                          pairs: Sequence[tuple[int, int]] = ()) -> dict[str, float]:
    """Log loss, accuracy and ECE, duplicate pairs merged."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    merged, merged_labels = merge_duplicate_classes(probabilities / probabilities.sum(axis=1, keepdims=True),
                                                    np.asarray(labels), pairs)
    return {"log_loss": competition_log_loss(merged, merged_labels), "accuracy": accuracy(merged, merged_labels),
            "ece": expected_calibration_error(merged, merged_labels)}


def prior_probabilities(train_labels: np.ndarray, n_classes: int, n_rows: int) -> np.ndarray:
    """The class-prior baseline: every row the training class frequencies."""
    prior = np.bincount(train_labels, minlength=n_classes).astype(np.float64)
    return np.tile(prior / prior.sum(), (n_rows, 1))


def approach_scores(approaches: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray | None],
                    train_labels: np.ndarray, n_classes: int,
                    pairs: Sequence[tuple[int, int]] = ()) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`classification_report` of each approach's ``{part: probabilities}`` on every part with
    labels (``None``: unknown, skipped), with the class prior as the first row."""
    known = {part: y for part, y in labels.items() if y is not None}
    rows = {"class prior": {part: classification_report(prior_probabilities(train_labels, n_classes, len(y)), y, pairs)
                            for part, y in known.items()}}
    for name, probs in approaches.items():
        rows[name] = {part: classification_report(probs[part], y, pairs) for part, y in known.items()}
    return rows
