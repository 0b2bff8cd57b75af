"""Training curves from the engine's history rows (chapters 01, 02)."""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_history(histories: dict[str, list[dict[str, float]]], keys: list[str], ncols: int | None = None) -> plt.Figure:
    """One panel per key, one line per run: ``histories = {"all losses": fit(...), ...}``."""
    ncols = ncols or len(keys)
    fig, axes = plt.subplots(1, ncols, figsize=(3.6 * ncols, 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, history in histories.items():
            rows = [r for r in history if key in r]
            ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker=".", label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
