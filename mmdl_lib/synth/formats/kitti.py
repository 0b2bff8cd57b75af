"""KITTI object writer: ``training/{image_2,velodyne,calib,label_2,depth_2}``, ``testing/…``, ``ImageSets``.

``depth_2`` holds dense depth maps in KITTI depth-completion encoding (uint16 PNG, metres × 256,
0 = no depth), for training the depth network of the pseudo-LiDAR chapter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from ...progress import tqdm

from ..catalog import CLASSES
from ..render import Calibration, Camera, SceneRenderer
from ..scene import sample_driving_scene, scene_rng
from .common import projected_box, save_image, visible_boxes


def occlusion_level(visible: int, unoccluded: int) -> int:
    """KITTI's 0 fully visible, 1 partly occluded, 2 largely occluded, from the visible share."""
    share = visible / max(unoccluded, 1)
    return 0 if share > 0.8 else (1 if share > 0.4 else 2)


def label_line(obj, box: np.ndarray, truncated: float, occluded: int) -> str:
    x, y, z = obj.location
    alpha = (obj.rotation_y - math.atan2(x, z) + math.pi) % (2 * math.pi) - math.pi
    h, w, l = obj.dims
    values = [truncated, occluded, alpha, *box, h, w, l, x, y, z, obj.rotation_y]
    return f"{CLASSES[obj.cls].kitti} " + " ".join(
        f"{v:d}" if isinstance(v, int) else f"{v:.2f}" for v in values)


def write_kitti(out: Path, spec: dict, seed: int) -> Path:
    width, height = spec["size"]
    camera = Camera.with_fov(width, height, 0.58, horizon=0.46)
    calib = Calibration.for_camera(camera)
    beams, azimuths = spec.get("lidar", (64, 1024))
    split_ids: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for part, count in (("training", spec["training"]), ("testing", spec["testing"])):
        for i in tqdm(range(count), desc=f"kitti {part}"):
            rng = scene_rng(seed, "kitti", part, i)
            scene = sample_driving_scene(rng, n_objects=(4, 10), z_range=(5.0, 50.0))
            renderer = SceneRenderer(scene)
            view = renderer.render(camera, rng, count_unoccluded=part == "training")
            stem = f"{i:06d}"
            root = out / part
            save_image(root / "image_2" / f"{stem}.png", view.rgb)
            (root / "velodyne").mkdir(parents=True, exist_ok=True)
            renderer.scan(calib, beams, azimuths, rng=rng).tofile(root / "velodyne" / f"{stem}.bin")
            (root / "calib").mkdir(parents=True, exist_ok=True)
            (root / "calib" / f"{stem}.txt").write_text(calib.to_text())
            if part == "testing":
                split_ids["test"].append(stem)
                continue
            boxes = visible_boxes(view)
            lines = []
            for obj in scene.objects:
                projected = projected_box(obj, calib, camera)
                seen = boxes.get(obj.instance_id, (None, 0))[1]
                if projected is None or seen == 0:
                    continue
                occluded = occlusion_level(seen, view.unoccluded_pixels.get(obj.instance_id, seen))
                lines.append(label_line(obj, projected[0], round(projected[1], 2), occluded))
            (root / "label_2").mkdir(parents=True, exist_ok=True)
            (root / "label_2" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
            (root / "depth_2").mkdir(parents=True, exist_ok=True)
            depth = np.clip(np.round(view.depth * 256), 0, 65535).astype(np.uint16)
            Image.fromarray(depth).save(root / "depth_2" / f"{stem}.png")
            split_ids["val" if i % 5 == 4 else "train"].append(stem)
    (out / "ImageSets").mkdir(parents=True, exist_ok=True)
    for name, ids in split_ids.items():
        (out / "ImageSets" / f"{name}.txt").write_text("".join(s + "\n" for s in ids))
    return out
