"""Samples of every synthetic dataset format, read back from disk with the real readers (chapter 00)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from ..data.kitti import read_calib, read_depth, read_label, read_velodyne
from .boxes import draw_boxes


def show_coco(root: Path, split: str = "train", n: int = 3) -> plt.Figure:
    from pycocotools.coco import COCO

    coco = COCO(str(root / "annotations" / f"instances_{split}2017.json"))
    captions = json.loads((root / "annotations" / f"captions_{split}2017.json").read_text())["annotations"]
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.6))
    for ax, image_id in zip(np.atleast_1d(axes), sorted(coco.getImgIds())[:n]):
        info = coco.loadImgs(image_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        caption = next(c["caption"] for c in captions if c["image_id"] == image_id)
        labels = [f"{a.get('attributes', {}).get('color', '')} {names[a['category_id']]}" for a in anns]
        draw_boxes(ax, np.asarray(Image.open(root / f"{split}2017" / info["file_name"])), [a["bbox"] for a in anns],
                   labels, title="\n".join(caption[i:i + 60] for i in range(0, len(caption), 60)))
    fig.tight_layout()
    return fig


def show_talk2car(root: Path, split: str = "train", n: int = 3) -> plt.Figure:
    commands = json.loads((root / "commands" / f"{split}_commands.json").read_text())["commands"][:n]
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3))
    for ax, c in zip(np.atleast_1d(axes), commands):
        draw_boxes(ax, np.asarray(Image.open(root / "images" / c["t2c_img"])), [c["2d_box"]], color="yellow",
                   title=f"“{c['command']}”")
    fig.tight_layout()
    return fig


def show_kitti(root: Path, index: int = 0) -> plt.Figure:
    """Image with 2D boxes, dense depth, LiDAR projected with the written calibration, and bird's-eye view."""
    stem = f"{index:06d}"
    part = root / "training"
    image = np.asarray(Image.open(part / "image_2" / f"{stem}.png"))
    calib = read_calib(part / "calib" / f"{stem}.txt")
    points = read_velodyne(part / "velodyne" / f"{stem}.bin")
    labels = read_label(part / "label_2" / f"{stem}.txt")
    depth = read_depth(part / "depth_2" / f"{stem}.png")
    uv, z = calib.velo_to_image(points)
    h, w = image.shape[:2]
    inside = (z > 0.5) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)

    fig = plt.figure(figsize=(12, 6.5))
    ax = fig.add_subplot(3, 2, (1, 2))
    boxes = [[o.bbox[0], o.bbox[1], o.bbox[2] - o.bbox[0], o.bbox[3] - o.bbox[1]] for o in labels]
    draw_boxes(ax, image, boxes, [f"{o.type} occ={o.occluded}" for o in labels], title="image_2 + label_2")
    ax = fig.add_subplot(3, 2, 3)
    ax.imshow(np.where(depth > 0, depth, np.nan), cmap="magma_r")
    ax.set_title("depth_2 (dense depth, m)", fontsize=8)
    ax.axis("off")
    ax = fig.add_subplot(3, 2, 4)
    ax.imshow(image)
    ax.scatter(uv[inside, 0], uv[inside, 1], c=z[inside], s=0.3, cmap="turbo")
    ax.set_title("velodyne projected with P2·R0_rect·Tr_velo_to_cam", fontsize=8)
    ax.axis("off")
    ax = fig.add_subplot(3, 2, (5, 6))
    near = (np.abs(points[:, 1]) < 20) & (points[:, 0] > 0) & (points[:, 0] < 60)
    ax.scatter(points[near, 0], points[near, 1], c=points[near, 3], s=0.2, cmap="viridis")
    ax.set_aspect("equal")
    ax.set_title("bird's-eye view (x forward, y left), colour = reflectance", fontsize=8)
    fig.tight_layout()
    return fig


def show_segmentation(cityscapes: Path, ood: Path) -> plt.Figure:
    from cityscapesscripts.helpers.labels import id2label

    image_path = sorted((cityscapes / "leftImg8bit" / "train").rglob("*_leftImg8bit.png"))[0]
    label_path = Path(str(image_path).replace("leftImg8bit", "gtFine", 1).replace("_leftImg8bit", "_gtFine_labelIds"))
    label_ids = np.asarray(Image.open(label_path))
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i, lab in id2label.items():
        if 0 <= i < 256:
            palette[i] = lab.color
    ood_image = sorted((ood / "images").glob("*.png"))[0]
    ood_label = np.asarray(Image.open(ood / "labels" / ood_image.name))
    fig, axes = plt.subplots(1, 4, figsize=(14, 2.4))
    panels = [(Image.open(image_path), "leftImg8bit"), (palette[label_ids], "gtFine_labelIds (official colours)"),
              (Image.open(ood_image), "OOD image"), (ood_label, "OOD label: 0 in-dist · 1 anomaly · 255 void")]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, cmap="gray" if title.startswith("OOD label") else None)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_classification(imagefolder: Path, cars: Path, per_row: int = 7) -> plt.Figure:
    classes = sorted(p.name for p in (imagefolder / "train").iterdir())[:per_row]
    car_classes = sorted(p.name for p in (cars / "train").iterdir())[:per_row]
    fig, axes = plt.subplots(2, per_row, figsize=(1.9 * per_row, 4.2))
    for ax, cls in zip(axes[0], classes):
        ax.imshow(Image.open(sorted((imagefolder / "train" / cls).glob("*.JPEG"))[0]))
        ax.set_title(cls, fontsize=8)
        ax.axis("off")
    for ax, cls in zip(axes[1], car_classes):
        ax.imshow(Image.open(sorted((cars / "train" / cls).glob("*.jpg"))[0]))
        ax.set_title(cls.replace("_", " ", 2), fontsize=6)
        ax.axis("off")
    with open(cars / "test.csv") as f:
        n_test = sum(1 for _ in csv.DictReader(f))
    fig.suptitle(f"top: ImageNet-style folder · bottom: Hecto-style car models ({n_test} test images)", fontsize=9)
    fig.tight_layout()
    return fig


def format_table(report: dict[str, dict]):
    """Chapter 00's summary, one row per format: what was written (its own counts, in words), the
    time it took and the speed, instead of one sparse column per count of every format."""
    import pandas as pd

    rows = {}
    for fmt, entry in report.items():
        counts = {k: v for k, v in entry.items() if k not in ("seconds", "images_per_second")}
        rows[fmt] = {"written": ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()),
                     "seconds": entry["seconds"], "images/s": entry["images_per_second"]}
    return pd.DataFrame.from_dict(rows, orient="index")
