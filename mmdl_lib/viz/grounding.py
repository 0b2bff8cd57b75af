"""Where a grounding head looks (chapter 02): token scores over the image, boxes on top."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .boxes import draw_boxes


def plot_token_scores(images: Sequence[np.ndarray], scores: np.ndarray, predicted: Sequence[Sequence[float]],
                      truth: Sequence[Sequence[float] | None], commands: Sequence[str], cols: int = 3):
    """One panel per command: the image, the head's softmax over tokens (stretched to the image) as
    a heat map, and the predicted (red) and ground-truth (green) ``[x, y, w, h]`` pixel boxes."""
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 2.9 * rows), squeeze=False)
    for ax, image, score, pred, gt, command in zip(axes.ravel(), images, scores, predicted, truth, commands):
        h, w = image.shape[:2]
        if gt is not None:
            draw_boxes(ax, image, [gt], color="lime")
        draw_boxes(ax, image, [pred], color="red", title=f"“{command}”")
        relative = score / max(float(score.max()), 1e-12)  # tokens under 5 % of the peak stay clear
        ax.imshow(np.ma.masked_less(relative, 0.05), cmap="autumn_r", alpha=0.55, vmin=0, vmax=1,
                  extent=(0, w, h, 0), interpolation="nearest")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
    for ax in axes.ravel()[len(images):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
