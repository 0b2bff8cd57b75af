"""Region crops and text→region retrieval results (chapter 01)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def show_regions(dataset, n: int = 12, seed: int = 0) -> plt.Figure:
    """Random region crops with their captions."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(dataset), size=min(n, len(dataset)), replace=False)
    fig, axes = plt.subplots(2, -(-len(picks) // 2), figsize=(1.6 * -(-len(picks) // 2), 3.8))
    for ax, i in zip(axes.ravel(), picks):
        ax.imshow(dataset.crop(int(i)) if dataset._crops is None else dataset._crops[int(i)])
        ax.set_title(dataset.regions[int(i)].caption.replace("a ", "", 1), fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_text_to_region(queries: list[str], image_emb: np.ndarray, text_emb: np.ndarray, dataset,
                        k: int = 5) -> plt.Figure:
    """For each query caption, the top-``k`` regions; a green title marks a correct caption."""
    fig, axes = plt.subplots(len(queries), k, figsize=(1.5 * k, 1.7 * len(queries)), squeeze=False)
    for row, query in zip(axes, queries):
        c = dataset.caption_index[query]
        top = np.argsort(-(image_emb @ text_emb[c]))[:k]
        for ax, i in zip(row, top):
            crop = dataset.crop(int(i)) if dataset._crops is None else dataset._crops[int(i)]
            ax.imshow(crop)
            ok = dataset.regions[int(i)].caption == query
            ax.set_title(("✓ " if ok else "✗ ") + dataset.regions[int(i)].caption.replace("a ", "", 1), fontsize=6,
                         color="green" if ok else "red")
            ax.axis("off")
        row[0].text(-0.1, 0.5, f"“{query}”", transform=row[0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def bar_compare(table: dict[str, dict[str, float]], keys: list[str], chance: dict[str, float] | None = None,
                title: str = "") -> plt.Figure:
    """Grouped bars: one group per metric key, one bar per row of ``table``."""
    names = list(table)
    x = np.arange(len(keys))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.6 * len(keys) + 2, 2.8))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [table[name].get(k, np.nan) for k in keys], width, label=name)
    if chance:
        for j, k in enumerate(keys):
            if k in chance:
                ax.hlines(chance[k], x[j] - 0.1, x[j] + 0.9, colors="k", linestyles=":",
                          label="chance" if j == 0 else None)
    ax.set_xticks(x + 0.4 - width / 2, keys, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
