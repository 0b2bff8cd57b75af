"""Drawing boxes on images (chapters 00, 01, 02)."""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle


def draw_boxes(ax: plt.Axes, image: np.ndarray, boxes: Iterable[Sequence[float]], labels: Iterable[str] | None = None,
               color: str = "lime", title: str | None = None, linewidth: float = 1.5) -> plt.Axes:
    """Show ``image`` with ``[x, y, w, h]`` pixel boxes and optional labels."""
    ax.imshow(image)
    labels = list(labels) if labels is not None else []
    for i, (x, y, w, h) in enumerate(boxes):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=linewidth))
        if i < len(labels) and labels[i]:
            ax.text(x, y - 2, labels[i], color="black", fontsize=6, bbox={"facecolor": color, "alpha": 0.7, "pad": 1})
    if title:
        ax.set_title(title, fontsize=8)
    ax.axis("off")
    return ax
