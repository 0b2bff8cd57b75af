"""Point clouds, depth maps and 3D boxes (chapter 03): bird's-eye views, an interactive 3D figure,
boxes projected on the camera image, and the distillation loss terms over training."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...data.kitti import KittiCalib, lidar_to_image
from ...viz.interactive import InteractiveFigure

# the 12 edges of mmdet3d's box corner order (0–3 bottom, 4–7 top)
BOX_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


def bev_panels(clouds: dict[str, np.ndarray], boxes=None, point_range: tuple[float, ...] | None = None,
               title: str = "") -> plt.Figure:
    """One bird's-eye panel per cloud (x forward, up the page; y left), ground-truth boxes in green."""
    fig, axes = plt.subplots(1, len(clouds), figsize=(4.2 * len(clouds), 4.2), squeeze=False)
    for ax, (name, cloud) in zip(axes[0], clouds.items()):
        ax.scatter(-cloud[:, 1], cloud[:, 0], s=0.3, c=cloud[:, 2], cmap="viridis", vmin=-2.5, vmax=1.0)
        if boxes is not None and len(boxes):
            for corners in boxes.corners[:, [0, 3, 7, 4, 0], :2].numpy():  # bottom rectangle in x, y
                ax.plot(-corners[:, 1], corners[:, 0], color="lime", linewidth=1.2)
        if point_range is not None:
            ax.set_xlim(-point_range[4], -point_range[1])
            ax.set_ylim(point_range[0], point_range[3])
        ax.set_aspect("equal")
        ax.set_title(f"{name} ({len(cloud):,} points)", fontsize=9)
        ax.set_xlabel("−y (m, left ← → right)")
        ax.set_ylabel("x (m, forward)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def cloud_figure(clouds: dict[str, np.ndarray], max_points: int = 6000, seed: int = 0) -> InteractiveFigure:
    """An interactive plotly 3D scatter of the clouds (subsampled), one trace each; it renders in
    Jupyter and on the offline site (``.figure`` is the plotly figure)."""
    import plotly.graph_objects as go

    rng = np.random.default_rng(seed)
    fig = go.Figure()
    for name, cloud in clouds.items():
        pick = cloud if len(cloud) <= max_points else cloud[rng.choice(len(cloud), max_points, replace=False)]
        fig.add_trace(go.Scatter3d(x=pick[:, 0], y=pick[:, 1], z=pick[:, 2], mode="markers", name=name,
                                   marker={"size": 1.5, "opacity": 0.7}))
    fig.update_layout(scene={"aspectmode": "data", "xaxis_title": "x (forward)", "yaxis_title": "y (left)",
                             "zaxis_title": "z (up)"}, height=480, margin={"l": 0, "r": 0, "t": 30, "b": 0},
                      legend={"itemsizing": "constant"})
    return InteractiveFigure(fig)


def project_corners(boxes, lidar2img: np.ndarray) -> np.ndarray:
    """(N, 8, 2) pixel positions of LiDAR boxes' corners (points behind the camera get NaN)."""
    corners = boxes.corners.numpy().reshape(-1, 3)
    homogeneous = np.hstack([corners, np.ones((len(corners), 1))]) @ lidar2img.T
    depth = homogeneous[:, 2:3]
    uv = np.where(depth > 0.1, homogeneous[:, :2] / np.maximum(depth, 1e-6), np.nan)
    return uv.reshape(-1, 8, 2)


def draw_boxes_3d(ax, boxes, lidar2img: np.ndarray, color: str, labels: list[str] | None = None) -> None:
    for i, box in enumerate(project_corners(boxes, lidar2img)):
        for a, b in BOX_EDGES:
            ax.plot(box[[a, b], 0], box[[a, b], 1], color=color, linewidth=1.0)
        if labels and np.isfinite(box).all():
            ax.text(box[:, 0].min(), box[:, 1].min() - 2, labels[i], color=color, fontsize=6)


def boxes_on_image(image: np.ndarray, calib: KittiCalib, panels: dict[str, tuple], title: str = "") -> plt.Figure:
    """One panel per ``{name: (gt_boxes, pred_boxes, pred_scores)}``: the image with ground truth in
    green and predictions in red (with their scores)."""

    lidar2img = lidar_to_image(calib)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.9 * len(panels)), squeeze=False)
    for ax, (name, (gt, pred, scores)) in zip(axes[:, 0], panels.items()):
        ax.imshow(image)
        if gt is not None:
            draw_boxes_3d(ax, gt, lidar2img, "lime")
        draw_boxes_3d(ax, pred, lidar2img, "red", [f"{s:.2f}" for s in scores])
        ax.set_xlim(0, image.shape[1])
        ax.set_ylim(image.shape[0], 0)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def depth_panels(image: np.ndarray, maps: dict[str, np.ndarray], max_depth: float = 60.0) -> plt.Figure:
    """The image and depth maps side by side (same colour scale; 0 = no depth shown black)."""
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(4.0 * (1 + len(maps)), 1.8))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=9)
    for ax, (name, depth) in zip(axes[1:], maps.items()):
        shown = np.ma.masked_where(depth <= 0, depth)
        ax.imshow(shown, cmap="magma_r", vmin=0, vmax=max_depth)
        ax.set_facecolor("black")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_kd_terms(histories: dict[str, list[dict[str, float]]], terms: tuple[str, ...] = ("det", "feat", "logit"),
                  smooth: int = 5) -> plt.Figure:
    """Each loss term per training step (moving average of ``smooth`` steps), one line per student;
    dotted lines mark where a phase (new weights) begins."""
    fig, axes = plt.subplots(1, len(terms), figsize=(3.8 * len(terms), 2.8), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for name, rows in histories.items():
            values = np.array([r.get(term, np.nan) for r in rows], dtype=float)
            if np.isnan(values).all():
                continue
            kernel = np.ones(min(smooth, len(values))) / min(smooth, len(values))
            ax.plot(np.convolve(values, kernel, mode="valid"), label=name, linewidth=1.2)
            starts = [i for i in range(1, len(rows)) if rows[i].get("phase") != rows[i - 1].get("phase")]
            for start in starts:
                ax.axvline(start, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"L_{term}", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
