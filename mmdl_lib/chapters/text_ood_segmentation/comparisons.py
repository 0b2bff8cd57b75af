"""How sure chapter 04's OOD-score comparison is: TDOS's score against each baseline score (MSP, max
logit, entropy) on AP and FPR95, by a paired bootstrap over the OOD images, and the computed sentences
the notebook prints under it.

All four scores come from the same model on the same pixels, so the comparison is paired. The unit
resampled is the *image* (pixels of one image are not independent: one missed anomaly is thousands
of pixels). Recomputing AP on millions of pixels per resample would take minutes, so each score's
pixels are ranked once (:class:`PixelRanking`): for every threshold at which an anomalous pixel
sits, each image's count of anomalous and normal pixels at or above it. A resample is a weight per
image (how often it was drawn), and its AP and FPR95 are one matrix–vector product; on the full
set (every weight 1) they equal scikit-learn's ``average_precision_score`` and the FPR95 of
:func:`mmdl_lib.metrics.ood.fpr_at_tpr`, so the bootstrap's point estimates are the table's numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from ...metrics.ood import ANOMALY, IN_DISTRIBUTION, VOID
from ...metrics.uncertainty import Comparison, paired_bootstrap

BASELINES = ("msp", "max_logit", "entropy")
TITLES = {"tdos": "TDOS (OOD prompts)", "msp": "MSP", "max_logit": "max logit", "entropy": "entropy"}


class PixelRanking:
    """One anomaly score over a set of images, ranked once so that the AP and FPR95 of any weighting of
    whole images cost one matrix–vector product.

    ``tp[i, n]`` / ``fp[i, n]``: anomalous / in-distribution pixels of image ``i`` scoring at least the
    ``n``-th highest distinct score of an anomalous pixel (AP and the 95 %-TPR point only move there).
    Beyond ``max_thresholds`` distinct scores (a full-size benchmark) the curve is read at that many
    quantiles of the anomalous pixels' scores, and AP is then an approximation (``exact`` False).
    """

    def __init__(self, scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], ignore_index: int = VOID,
                 max_thresholds: int = 200_000):
        if len(scores) != len(labels) or not len(scores):
            raise ValueError(f"{len(scores)} score maps for {len(labels)} label maps")
        positives, negatives = [], []
        for score, label in zip(scores, labels):
            score, label = np.asarray(score, dtype=np.float64).ravel(), np.asarray(label).ravel()
            if score.shape != label.shape:
                raise ValueError(f"a score map of {score.size} pixels for a label map of {label.size}")
            positives.append(np.sort(score[label == ANOMALY]))
            negatives.append(np.sort(score[label == IN_DISTRIBUTION]))
            if not np.isfinite(score[label != ignore_index]).all():
                raise ValueError("anomaly scores hold NaN or infinite values")
        self.thresholds = np.unique(np.concatenate(positives))[::-1]  # descending
        if not self.thresholds.size:
            raise ValueError("no anomalous pixel: AP is undefined")
        self.exact = self.thresholds.size <= max_thresholds
        if not self.exact:  # a full-size benchmark: the PR curve at max_thresholds quantiles of the anomalies' scores
            self.thresholds = np.unique(np.quantile(self.thresholds, np.linspace(0, 1, max_thresholds)))[::-1]

        def at_or_above(sorted_values: np.ndarray) -> np.ndarray:
            return sorted_values.size - np.searchsorted(sorted_values, self.thresholds, side="left")

        self.positives = np.array([p.size for p in positives], dtype=np.float64)
        self.negatives = np.array([n.size for n in negatives], dtype=np.float64)
        # tp | fp side by side: one product per resample. float32 sums integers exactly below 2**24.
        exact32 = len(positives) * (self.positives + self.negatives).max() < 2 ** 24
        self.counts = np.concatenate([np.stack([at_or_above(p) for p in positives]),
                                      np.stack([at_or_above(n) for n in negatives])], axis=1).astype(
            np.float32 if exact32 else np.float64)

    @property
    def tp(self) -> np.ndarray:
        return self.counts[:, :self.thresholds.size]

    @property
    def fp(self) -> np.ndarray:
        return self.counts[:, self.thresholds.size:]

    def _cumulative(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tp, fp) at each threshold, image ``i`` counted ``w[i]`` times."""
        both = (w.astype(self.counts.dtype) @ self.counts).astype(np.float64)
        return both[:self.thresholds.size], both[self.thresholds.size:]

    @property
    def n_images(self) -> int:
        return len(self.positives)

    def _weights(self, weights: np.ndarray | None) -> np.ndarray:
        return np.ones(self.n_images) if weights is None else np.asarray(weights, dtype=np.float64)

    def ap(self, weights: np.ndarray | None = None) -> float:
        """Average precision with image ``i`` counted ``weights[i]`` times (all once by default)."""
        w = self._weights(weights)
        total = w @ self.positives
        if total <= 0:
            return float("nan")
        tp, fp = self._cumulative(w)
        recall = tp / total
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
        return float(np.sum(np.diff(recall, prepend=0.0) * precision))

    def fpr_at_tpr(self, weights: np.ndarray | None = None, tpr: float = 0.95) -> float:
        """False positive rate at the highest threshold whose true positive rate reaches ``tpr``."""
        w = self._weights(weights)
        positives, negatives = w @ self.positives, w @ self.negatives
        if positives <= 0 or negatives <= 0:
            return float("nan")
        tp, fp = self._cumulative(w)
        reached = np.flatnonzero(tp / positives >= tpr)[0]
        return float(fp[reached] / negatives)

    def per_image_ap(self) -> np.ndarray:
        """Each image's own AP (NaN for an image without anomalous or without normal pixels)."""
        found = np.full(self.n_images, np.nan)
        for i in range(self.n_images):
            if self.positives[i] > 0 and self.negatives[i] > 0:
                found[i] = self.ap(np.eye(self.n_images)[i])
        return found


def _memo(function):
    """``function(indices)`` remembered per resample: every comparison draws the same resamples (one
    seed), so the taught score's AP on a resample is computed once, not once per baseline."""
    seen: dict[bytes, float] = {}

    def remembered(indices: np.ndarray) -> float:
        key = np.asarray(indices).tobytes()
        if key not in seen:
            seen[key] = function(indices)
        return seen[key]

    return remembered


def compare_ood_scores(rankings: Mapping[str, PixelRanking], taught: str = "tdos",
                       baselines: Sequence[str] = BASELINES, metrics: Sequence[str] = ("ap", "fpr95"),
                       resamples: int = 1000, seed: int = 0,
                       titles: Mapping[str, str] = TITLES) -> dict[str, Comparison]:
    """``{"<taught>_vs_<baseline>_<metric>": Comparison}``: the taught score against each baseline, by a
    paired bootstrap over the OOD images (whole images resampled, ``resamples`` times)."""
    n = rankings[taught].n_images
    if any(rankings[b].n_images != n for b in baselines):
        raise ValueError("every score must rank the same images")

    def scorer(name: str, metric: str):
        ranking = rankings[name]
        compute = ranking.ap if metric == "ap" else ranking.fpr_at_tpr
        return _memo(lambda idx: compute(np.bincount(idx, minlength=n)))

    found: dict[str, Comparison] = {}
    for metric in metrics:
        taught_score = scorer(taught, metric)
        for baseline in baselines:
            comparison = paired_bootstrap(taught_score, scorer(baseline, metric), n,
                                          (titles.get(taught, taught), titles.get(baseline, baseline)),
                                          "AP" if metric == "ap" else "FPR95", resamples=resamples, seed=seed,
                                          higher_is_better=metric == "ap")
            found[f"{taught}_vs_{baseline}_{metric}"] = dataclasses.replace(
                comparison, method=f"paired bootstrap over {n} OOD images (whole images, {resamples} resamples)")
    return found


def comparison_notes(comparisons: Mapping[str, Comparison], rankings: Mapping[str, PixelRanking],
                     taught: str = "tdos", baselines: Sequence[str] = BASELINES,
                     titles: Mapping[str, str] = TITLES) -> str:
    """Markdown computed from the run: for each baseline the taught score does not beat on AP
    (``comparisons`` as :func:`compare_ood_scores` keys them), how often it is ahead image by image,
    how few anomalous pixels the interval rests on, and what the full profile changes."""
    ranking = rankings[taught]
    mine = ranking.per_image_ap()
    lines = []
    for baseline in baselines:
        c = comparisons.get(f"{taught}_vs_{baseline}_ap")
        if c is None or c.winner == c.a:
            continue
        theirs = rankings[baseline].per_image_ap()
        scored = ~np.isnan(mine) & ~np.isnan(theirs)
        ahead = int((mine[scored] > theirs[scored]).sum())
        outcome = "cannot be told apart from" if c.winner is None else "loses to"
        lines.append(
            f"- On AP, {c.a} {outcome} {c.b}. Image by image, its AP is the higher one on {ahead} of the "
            f"{int(scored.sum())} OOD images that hold anomalous pixels, and the interval rests on "
            f"{int(ranking.positives.sum())} anomalous pixels in {ranking.n_images} images.")
    if not lines:
        names = ", ".join(titles.get(b, b) for b in baselines)
        return (f"- On AP, {titles.get(taught, taught)} beats every baseline ({names}) on this run: each "
                "interval above lies above zero.")
    return "\n".join(lines + [
        "- The full profile changes what limits this run: a CLIP that was pretrained on the web reads the "
        "WordNet prompts' names (the smoke CLIP was trained on the synthetic world's captions only), and a benchmark's OOD "
        "set brings more images and more anomalous pixels, which narrows the intervals."])
