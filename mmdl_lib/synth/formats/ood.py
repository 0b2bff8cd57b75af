"""Out-of-distribution set in Fishyscapes Lost & Found / Road Anomaly layout: ``images/`` + ``labels/``.

Scenes put objects of classes never seen in training (animals, debris, odd shapes) on the road.
Labels: 0 in-distribution, 1 anomaly, 255 void (a thin band around each anomaly, where a pixel
mixes object and background, as Fishyscapes leaves it unscored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from ...progress import tqdm

from ..render import Camera
from ..scene import sample_driving_scene, scene_rng
from .common import render, save_image


def anomaly_labels(instance: np.ndarray, ood_ids: set[int], void_width: int = 1) -> np.ndarray:
    anomaly = np.isin(instance, list(ood_ids))
    labels = anomaly.astype(np.uint8)
    if void_width > 0 and anomaly.any():
        ring = ndimage.binary_dilation(anomaly, iterations=void_width) & ~ndimage.binary_erosion(
            anomaly, iterations=void_width)
        labels[ring] = 255
    return labels


def write_ood(out: Path, spec: dict, seed: int) -> Path:
    width, height = spec["size"]
    camera = Camera.with_fov(width, height, 1.1, horizon=0.45)
    for i in tqdm(range(spec["count"]), desc="ood"):
        attempt = 0
        while True:  # redraw until at least one anomaly is visible
            rng = scene_rng(seed, "ood", i, attempt)
            scene = sample_driving_scene(rng, n_objects=(2, 6), z_range=(10.0, 50.0), n_ood=int(rng.integers(1, 4)))
            _, view = render(scene, camera, rng)
            labels = anomaly_labels(view.instance, scene.ood_ids)
            attempt += 1
            if (labels == 1).sum() >= 20 or attempt > 20:
                break
        stem = f"synthetic_{i:04d}"
        save_image(out / "images" / f"{stem}.png", view.rgb)
        (out / "labels").mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels).save(out / "labels" / f"{stem}.png")
    return out
