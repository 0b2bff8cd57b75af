"""ImageNet-style folder writer: ``train/<class>/*.JPEG``, ``val/<class>/*.JPEG`` of object-centred crops."""

from __future__ import annotations

from pathlib import Path

from ...progress import tqdm

from ..catalog import ROAD_USERS
from ..render import Camera
from ..scene import sample_object_scene, scene_rng
from .common import crop_square, render, save_image, visible_boxes


def write_imagefolder(out: Path, spec: dict, seed: int) -> Path:
    size = spec["size"]
    camera = Camera.with_fov(4 * size, 3 * size, 0.8, horizon=0.45)
    for split, per_class in spec["splits"].items():
        for cls in ROAD_USERS:
            for i in tqdm(range(per_class), desc=f"imagefolder {split}/{cls}"):
                rng = scene_rng(seed, "imagefolder", split, cls, i)
                near = {"cone": (4.0, 8.0), "pedestrian": (4.0, 9.0), "cyclist": (5.0, 10.0), "bus": (14.0, 24.0), "truck": (11.0, 20.0)}.get(cls, (7.0, 14.0))
                scene = sample_object_scene(rng, cls, z_range=near, n_others=int(rng.integers(0, 3)))
                _, view = render(scene, camera, rng)
                box = visible_boxes(view)[1][0]
                crop = crop_square(view.rgb, box, margin=0.15, size=size)
                save_image(out / split / cls / f"{cls}_{split}_{i:05d}.JPEG", crop)
    return out
