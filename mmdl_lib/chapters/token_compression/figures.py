"""Figures of chapter 05: WGAN-GP training curves, the compression table, and where an image's
reconstruction is worst (the cosine map over the token grid beside the image)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def wgan_curves(step_log: list[dict[str, float]], history: list[dict[str, float]]) -> plt.Figure:
    """Critic loss, gradient penalty, Wasserstein estimate, reconstruction loss and validation cosine."""
    panels = [("critic_loss", "critic loss (−W + λ·GP)"), ("gradient_penalty", "gradient penalty"),
              ("wasserstein", "Wasserstein estimate (train)"), ("ae_total", "reconstruction loss")]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(17, 2.8))
    x = [row["epoch"] for row in step_log]
    for ax, (key, title) in zip(axes, panels):
        ax.plot(x, [row[key] for row in step_log], linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[-1].plot([r["epoch"] for r in history], [r["val_cosine"] for r in history], marker=".")
    axes[-1].set_title("validation reconstruction cosine", fontsize=9)
    axes[-1].set_xlabel("epoch")
    axes[-1].grid(alpha=0.3)
    fig.tight_layout()
    return fig


def compression_plot(table: dict[str, dict[str, float]]) -> plt.Figure:
    """Reconstruction cosine of the compressor and of average pooling against the token count."""
    rows = sorted(table.values(), key=lambda r: r["tokens"])
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    tokens = [r["tokens"] for r in rows]
    ax.plot(tokens, [r["cosine"] for r in rows], marker="o", label="2D-conv compressor")
    ax.plot(tokens, [r["avgpool_cosine"] for r in rows], marker="s", linestyle="--", label="average pooling")
    ax.set_xscale("log")
    ax.set_xticks(tokens, [str(t) for t in tokens])
    ax.set_xlabel("tokens kept per image")
    ax.set_ylabel("reconstruction cosine")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cosine_map_figure(image: torch.Tensor, cosine: torch.Tensor, output_grid: int, title: str = "") -> plt.Figure:
    """The image, and each token's reconstruction cosine over it with the compressed blocks outlined."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
    axes[0].imshow(image.permute(1, 2, 0).numpy())
    axes[0].set_title("image", fontsize=9)
    shown = axes[1].imshow(cosine.numpy(), cmap="magma", vmin=float(np.floor(cosine.min() * 10) / 10), vmax=1.0)
    step = cosine.shape[0] / output_grid
    for k in range(1, output_grid):
        axes[1].axhline(k * step - 0.5, color="white", linewidth=0.5)
        axes[1].axvline(k * step - 0.5, color="white", linewidth=0.5)
    axes[1].set_title(title or "token reconstruction cosine", fontsize=9)
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
