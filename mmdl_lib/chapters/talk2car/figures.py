"""Grounding results (chapter 02): predicted and true boxes with the command, and where the head looks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...data.talk2car import Talk2CarDataset, denormalize_box
from ...metrics.boxes import pairwise_iou
from ...viz.boxes import draw_boxes


def _grid(n: int, cols: int):
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def _save(fig: plt.Figure, folder: Path | None, name: str) -> plt.Figure:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / f"{name}.png", dpi=100)
    return fig


def plot_predictions(dataset: Talk2CarDataset, pred_xywh: torch.Tensor, indices: list[int],
                     folder: Path | None = None, title: str = "") -> plt.Figure:
    """Predicted (red) and ground-truth (green) boxes of commands ``indices``, with the command and
    the IoU; saved as ``<title>.png`` in ``folder``."""
    fig, axes = _grid(len(indices), min(3, len(indices)))
    for ax, i in zip(axes, indices):
        item = dataset.items[i]
        image = dataset.load_image(i)
        h, w = image.shape[:2]
        if item.box is not None:
            draw_boxes(ax, image, [denormalize_box(item.box, w, h)], color="lime")
            iou = float(pairwise_iou(pred_xywh[i:i + 1], torch.tensor([item.box]))[0])
            label = f"IoU {iou:.2f}"
        else:
            ax.imshow(image)
            label = "no ground truth"
        draw_boxes(ax, image, [denormalize_box(pred_xywh[i].tolist(), w, h)], color="red",
                   title=f"“{item.command}”\n{label}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, folder, title.replace(" ", "_") or "examples")


def show_token_scores(scores: torch.Tensor, dataset: Talk2CarDataset, pred_xywh: torch.Tensor, indices: list[int],
                      folder: Path | None = None) -> plt.Figure:
    """:func:`plot_token_scores` for commands ``indices`` of ``dataset`` (``scores``: their (N, H, W)
    token scores, from :func:`.model.token_scores`); saved as ``token_scores.png``."""
    images = [dataset.load_image(i) for i in indices]
    sizes = [(image.shape[1], image.shape[0]) for image in images]
    truth = [denormalize_box(dataset.items[i].box, *size) if dataset.items[i].box is not None else None
             for i, size in zip(indices, sizes)]
    predicted = [denormalize_box(pred_xywh[i].tolist(), *size) for i, size in zip(indices, sizes)]
    fig = plot_token_scores(images, scores.numpy(), predicted, truth, [dataset.items[i].command for i in indices])
    return _save(fig, folder, "token_scores")


def plot_token_scores(images: Sequence[np.ndarray], scores: np.ndarray, predicted: Sequence[Sequence[float]],
                      truth: Sequence[Sequence[float] | None], commands: Sequence[str], cols: int = 3):
    """One panel per command: the image, the head's softmax over tokens (stretched to the image) as
    a heat map, and the predicted (red) and ground-truth (green) ``[x, y, w, h]`` pixel boxes."""
    fig, axes = _grid(len(images), cols)
    for ax, image, score, pred, gt, command in zip(axes, images, scores, predicted, truth, commands):
        h, w = image.shape[:2]
        if gt is not None:
            draw_boxes(ax, image, [gt], color="lime")
        draw_boxes(ax, image, [pred], color="red", title=f"“{command}”")
        relative = score / max(float(score.max()), 1e-12)  # tokens under 5 % of the peak stay clear
        ax.imshow(np.ma.masked_less(relative, 0.05), cmap="autumn_r", alpha=0.55, vmin=0, vmax=1,
                  extent=(0, w, h, 0), interpolation="nearest")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
    fig.tight_layout()
    return fig
