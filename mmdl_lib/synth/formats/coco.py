"""COCO 2017 writer: ``annotations/instances_*.json``, ``annotations/captions_*.json``, ``{split}2017/``.

Besides the official fields, each synthetic instance carries ``attributes`` (colour, world class),
which real COCO lacks; readers treat it as optional.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from ...progress import tqdm

from ...io import write_json
from ..catalog import CLASSES, COCO_CATEGORIES
from ..language import image_captions
from ..render import Camera
from ..scene import sample_driving_scene, scene_rng
from .common import render, save_image, visible_objects

INFO = {"description": "MMDL synthetic driving world in COCO 2017 format", "version": "1.0", "year": 2026}
LICENSES = [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}]


def write_coco(out: Path, spec: dict, seed: int) -> Path:
    width, height = spec["size"]
    camera = Camera.with_fov(width, height, 0.8, horizon=0.45)
    categories = [{"id": cid, "name": name, "supercategory": sup} for name, (cid, sup) in COCO_CATEGORIES.items()]
    for s, (split, count) in enumerate(spec["splits"].items()):
        images, instances, captions = [], [], []
        for i in tqdm(range(count), desc=f"coco {split}"):
            rng = scene_rng(seed, "coco", split, i)
            scene = sample_driving_scene(rng, n_objects=(3, 9), z_range=(5.0, 40.0))
            _, view = render(scene, camera, rng)
            image_id = (s + 1) * 1_000_000 + i
            file_name = f"{image_id:012d}.jpg"
            save_image(out / f"{split}2017" / file_name, view.rgb)
            images.append({"id": image_id, "file_name": file_name, "width": width, "height": height, "license": 1})
            visible = visible_objects(scene, view, min_pixels=16)
            for obj in visible:
                category = CLASSES[obj.cls].coco
                if category is None:
                    continue  # COCO has no such class (traffic cones)
                rle = mask_utils.encode(np.asfortranarray((view.instance == obj.instance_id).astype(np.uint8)))
                instances.append({
                    "id": len(instances) + 1 + (s + 1) * 10_000_000,
                    "image_id": image_id,
                    "category_id": COCO_CATEGORIES[category][0],
                    "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                    "area": float(mask_utils.area(rle)),
                    "iscrowd": 0,
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
                    "attributes": {"color": obj.color, "class": obj.cls},
                })
            for text in image_captions(visible, width, rng):
                captions.append({"id": len(captions) + 1 + (s + 1) * 10_000_000, "image_id": image_id, "caption": text})
        common = {"info": INFO, "licenses": LICENSES, "images": images}
        write_json(out / "annotations" / f"instances_{split}2017.json",
                   {**common, "annotations": instances, "categories": categories}, indent=None)
        write_json(out / "annotations" / f"captions_{split}2017.json", {**common, "annotations": captions}, indent=None)
    return out
