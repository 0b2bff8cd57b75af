"""Cityscapes writer (in-distribution scenes only): ``leftImg8bit/`` and ``gtFine/`` with official label ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from ...progress import tqdm

from ..catalog import CS_BICYCLE, CS_BUS, CS_CAR, CS_PERSON, CS_RIDER, CS_TRUCK
from ..render import Camera
from ..scene import sample_driving_scene, scene_rng
from .common import render, save_image

CITIES = {"train": ("aachen", "bremen", "zurich"), "val": ("frankfurt", "lindau")}
THING_IDS = (CS_PERSON, CS_RIDER, CS_CAR, CS_TRUCK, CS_BUS, CS_BICYCLE)


def instance_ids(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """Cityscapes ``instanceIds``: ``labelId * 1000 + k`` for things, the label id for stuff."""
    ids = semantic.astype(np.int32)
    thing = np.isin(semantic, THING_IDS) & (instance > 0)
    ids[thing] = semantic[thing].astype(np.int32) * 1000 + instance[thing]
    return ids.astype(np.uint16)  # 16-bit PNG, as in the real release


def write_cityscapes(out: Path, spec: dict, seed: int) -> Path:
    width, height = spec["size"]
    camera = Camera.with_fov(width, height, 1.1, horizon=0.45)
    for split, count in spec["splits"].items():
        cities = CITIES[split]
        for i in tqdm(range(count), desc=f"cityscapes {split}"):
            rng = scene_rng(seed, "cityscapes", split, i)
            scene = sample_driving_scene(rng, n_objects=(4, 10), z_range=(6.0, 50.0))
            _, view = render(scene, camera, rng)
            city = cities[i % len(cities)]
            stem = f"{city}_{i // 30:06d}_{i % 30 * 19:06d}"
            save_image(out / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", view.rgb)
            gt = out / "gtFine" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            Image.fromarray(view.semantic).save(gt / f"{stem}_gtFine_labelIds.png")
            Image.fromarray(instance_ids(view.semantic, view.instance)).save(gt / f"{stem}_gtFine_instanceIds.png")
    return out
