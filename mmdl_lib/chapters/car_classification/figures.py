"""Figures of chapter 06: predictions on car images, approach comparison, reliability diagrams."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...metrics.classification import reliability_bins


def show_predictions(images: list, labels: np.ndarray, probabilities: np.ndarray, classes: list[str],
                     k: int = 3, n: int = 8) -> plt.Figure:
    """Images with their true class and the top-``k`` predictions (green: top-1 correct)."""
    n = min(n, len(images))
    cols = 4
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    for ax, i in zip(axes.flat, range(n)):
        ax.imshow(images[i].permute(1, 2, 0).numpy())
        top = np.argsort(-probabilities[i])[:k]
        lines = [f"{classes[c][:26]} {probabilities[i, c]:.2f}" for c in top]
        ax.set_title(f"true: {classes[labels[i]][:26]}\n" + "\n".join(lines), fontsize=6.5,
                     color="green" if top[0] == labels[i] else "firebrick")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def approach_bars(scores: dict[str, dict[str, float]], keys: tuple[str, ...] = ("log_loss", "accuracy", "ece"),
                  title: str = "") -> plt.Figure:
    """One panel per metric, one bar per approach (the class prior as a dotted line where present)."""
    names = [n for n in scores if n != "class prior"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 0.28 * len(names) + 1.4))
    for ax, key in zip(np.atleast_1d(axes), keys):
        ax.barh(names, [scores[n][key] for n in names], color="tab:blue")
        if "class prior" in scores:
            ax.axvline(scores["class prior"][key], color="k", linestyle=":", label="class prior")
            ax.legend(fontsize=7)
        ax.set_title(key, fontsize=9)
        ax.invert_yaxis()
        ax.tick_params(labelsize=7)
    for ax in np.atleast_1d(axes)[1:]:
        ax.set_yticklabels([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def reliability_diagrams(panels: dict[str, tuple[np.ndarray, np.ndarray]], n_bins: int = 10) -> plt.Figure:
    """Accuracy against confidence per bin, one panel per ``name → (probabilities, labels)``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0), squeeze=False)
    for ax, (name, (probs, labels)) in zip(axes[0], panels.items()):
        bins = reliability_bins(probs, labels, n_bins)
        centres = (bins["edges"][:-1] + bins["edges"][1:]) / 2
        filled = bins["count"] > 0
        ax.bar(centres[filled], bins["accuracy"][filled], width=1 / n_bins, edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k:", label="perfect calibration")
        ax.plot(bins["confidence"][filled], bins["accuracy"][filled], "o", color="firebrick", ms=3,
                label="mean confidence")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1)", title=name)
        ax.title.set_fontsize(8)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return fig
