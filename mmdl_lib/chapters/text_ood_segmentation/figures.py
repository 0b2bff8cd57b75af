"""Figures of chapter 04 (TDOS): anomaly heat maps beside the images, what the OOD augmentation
changes, and the OOD metrics per score."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ...metrics.ood import VOID


def _ground_truth(label: np.ndarray) -> np.ndarray:
    """0 in-distribution → dark, 1 anomaly → white, void → grey."""
    shown = np.where(label == 1, 1.0, 0.0)
    shown[label == VOID] = 0.5
    return shown


def anomaly_heatmaps(images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                     scores: Mapping[str, Sequence[np.ndarray]], titles: Mapping[str, str] | None = None) -> plt.Figure:
    """One row per image: the image, its anomaly ground truth, then each score's map (each map
    scaled to its own range over all rows, so maps of one score compare across images)."""
    names = list(scores)
    cols = 2 + len(names)
    fig, axes = plt.subplots(len(images), cols, figsize=(2.6 * cols, 1.45 * len(images) + 0.4), squeeze=False)
    ranges = {n: (float(np.min([s.min() for s in scores[n]])), float(np.max([s.max() for s in scores[n]])))
              for n in names}
    for row, (image, label) in enumerate(zip(images, labels)):
        panels = [(image, "image", None), (_ground_truth(label), "anomaly (grey: void)", "gray")]
        panels += [(scores[n][row], (titles or {}).get(n, n), "inferno") for n in names]
        for col, (panel, title, cmap) in enumerate(panels):
            ax = axes[row, col]
            if cmap == "inferno":
                low, high = ranges[names[col - 2]]
                ax.imshow(panel, cmap=cmap, vmin=low, vmax=high)
            else:
                ax.imshow(panel, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None)
            if row == 0:
                ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def augmentation_figure(image: np.ndarray, region: np.ndarray, token_cosine: np.ndarray, ood_clean: np.ndarray,
                        ood_perturbed: np.ndarray) -> plt.Figure:
    """What the attention-feature perturbation does to one training image: the region, how far its
    tokens moved (cosine to the clean tokens), and the trained model's OOD map without and with it."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.3))
    axes[0].imshow(image)
    axes[0].contour(region, levels=[0.5], colors="cyan", linewidths=1.2)
    axes[0].set_title("training image, perturbed region", fontsize=9)
    shown = axes[1].imshow(token_cosine, cmap="viridis", vmin=min(0.0, float(token_cosine.min())), vmax=1)
    axes[1].set_title("token cosine, perturbed vs clean", fontsize=9)
    fig.colorbar(shown, ax=axes[1], fraction=0.03)
    for ax, ood, title in ((axes[2], ood_clean, "OOD share, clean features"),
                           (axes[3], ood_perturbed, "OOD share, perturbed features")):
        shown = ax.imshow(ood, cmap="inferno", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.03)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def score_bars(metrics: Mapping[str, Mapping[str, float]], keys: tuple[str, ...] = ("ap", "auroc", "fpr95"),
               baseline_ap: float | None = None, titles: Mapping[str, str] | None = None) -> plt.Figure:
    """AP, AUROC and FPR95 per anomaly score (FPR95: lower is better); ``baseline_ap`` is a random
    score's AP, the anomaly fraction."""
    names = list(metrics)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 2.8))
    for ax, key in zip(np.atleast_1d(axes), keys):
        ax.bar([(titles or {}).get(n, n) for n in names], [metrics[n][key] for n in names],
               color=["tab:red" if i == 0 else "tab:gray" for i in range(len(names))])
        if key == "ap" and baseline_ap is not None:
            ax.axhline(baseline_ap, color="black", linestyle=":", linewidth=1, label="random score")
            ax.legend(fontsize=8)
        ax.set_title(key.upper() + (" (lower is better)" if key == "fpr95" else ""), fontsize=9)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
