"""A chapter's pipeline as a row of boxes and arrows (every chapter opens with one)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch


def pipeline(steps: list[str], title: str | None = None, highlight: set[int] | None = None) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2.3 * len(steps), 1.5))
    for i, text in enumerate(steps):
        color = "#ffe9a8" if highlight and i in highlight else "#dbe9f6"
        ax.add_patch(FancyBboxPatch((i * 2.3 + 0.05, 0.1), 1.9, 0.8, boxstyle="round,pad=0.05", fc=color, ec="#335"))
        ax.text(i * 2.3 + 1.0, 0.5, text, ha="center", va="center", fontsize=8, wrap=True)
        if i < len(steps) - 1:
            ax.annotate("", xy=(i * 2.3 + 2.3, 0.5), xytext=(i * 2.3 + 1.98, 0.5),
                        arrowprops={"arrowstyle": "->", "color": "#335"})
    ax.set_xlim(0, 2.3 * len(steps))
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
