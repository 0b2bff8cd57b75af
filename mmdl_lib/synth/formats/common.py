"""Helpers shared by the format writers: rendering a frame, finding what is visible, saving images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..language import Visible
from ..render import Calibration, Camera, SceneRenderer, View
from ..scene import Scene, SceneObject


def save_image(path: Path, rgb: np.ndarray, quality: int = 92) -> None:
    """PNG or JPEG by suffix; both are byte-identical for identical pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rgb)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=quality, optimize=False)
    else:
        image.save(path)


def visible_boxes(view: View) -> dict[int, tuple[tuple[float, float, float, float], int]]:
    """Per instance: the tight box (x, y, w, h) of its visible pixels and their count."""
    counts = np.bincount(view.instance.ravel())
    boxes = {}
    for index, found in enumerate(ndimage.find_objects(view.instance)):
        if found is None:
            continue
        ys, xs = found
        boxes[index + 1] = ((float(xs.start), float(ys.start), float(xs.stop - xs.start), float(ys.stop - ys.start)),
                            int(counts[index + 1]))
    return boxes


def visible_objects(scene: Scene, view: View, min_pixels: int = 12) -> list[Visible]:
    boxes = visible_boxes(view)
    found = []
    for obj in scene.objects:
        if obj.instance_id in boxes and boxes[obj.instance_id][1] >= min_pixels:
            found.append(Visible(obj.instance_id, obj.cls, obj.color, boxes[obj.instance_id][0], obj.distance))
    return found


def box_corners(obj: SceneObject) -> np.ndarray:
    """The 8 corners of a KITTI 3D box in the camera frame (bottom face first)."""
    h, w, l = obj.dims
    x = np.array([l, l, -l, -l, l, l, -l, -l]) / 2
    y = np.array([0, 0, 0, 0, -h, -h, -h, -h])
    z = np.array([w, -w, -w, w, w, -w, -w, w]) / 2
    c, s = math.cos(obj.rotation_y), math.sin(obj.rotation_y)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return (rot @ np.stack([x, y, z])).T + np.array(obj.location)


def projected_box(obj: SceneObject, calib: Calibration, camera: Camera) -> tuple[np.ndarray, float] | None:
    """The 3D box projected into image 2 and clipped: ``(x0, y0, x1, y1)`` and the truncated share.

    ``None`` when the box is behind the camera or entirely outside the image.
    """
    corners = box_corners(obj)
    if np.any(corners[:, 2] < 0.3):
        return None
    uv, _ = calib.rect_to_image(corners)
    x0, y0 = uv.min(0)
    x1, y1 = uv.max(0)
    cx0, cy0 = max(x0, 0.0), max(y0, 0.0)
    cx1, cy1 = min(x1, camera.width - 1.0), min(y1, camera.height - 1.0)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    full = (x1 - x0) * (y1 - y0)
    truncated = 1.0 - (cx1 - cx0) * (cy1 - cy0) / full if full > 0 else 1.0
    return np.array([cx0, cy0, cx1, cy1]), float(np.clip(truncated, 0, 1))


def render(scene: Scene, camera: Camera, rng: np.random.Generator, count_unoccluded: bool = False
           ) -> tuple[SceneRenderer, View]:
    renderer = SceneRenderer(scene)
    return renderer, renderer.render(camera, rng, count_unoccluded)


def crop_square(rgb: np.ndarray, box: tuple[float, float, float, float], margin: float, size: int) -> np.ndarray:
    """A square crop around ``box`` (x, y, w, h) with ``margin`` context, padded at borders, resized."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    right, bottom = left + int(round(side)), top + int(round(side))
    pad = max(0, -left, -top, right - rgb.shape[1], bottom - rgb.shape[0])
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else rgb
    crop = padded[top + pad:bottom + pad, left + pad:right + pad]
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))
