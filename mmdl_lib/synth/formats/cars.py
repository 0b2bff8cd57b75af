"""Hecto-style car classification writer (Dacon 2025 layout).

``train/<class_name>/*.jpg``, ``test/*.jpg`` + ``test.csv`` (``ID,img_path``) and
``sample_submission.csv`` (``ID`` + one probability column per class). A class is a car
"model": body type, proportions, colour and details, photographed from several viewpoints.
As in the real competition, one pair of class names shows the identical model; it is listed in
the synthetic-only sidecar ``duplicate_classes.json``, and ``test_answers.csv`` (also
synthetic-only) holds the test labels the real competition keeps hidden.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
from ...progress import tqdm

from ...io import atomic_write, write_json
from ..catalog import VEHICLE_COLORS
from ..render import Camera
from ..scene import BODY_TYPES, CarStyle, sample_object_scene, scene_rng
from .common import crop_square, render, save_image, visible_boxes

BRANDS = ("Aster", "Borealis", "Cygna", "Dorado", "Eridan", "Fornax", "Grus", "Hydra", "Indus", "Lyra")


def car_models(n_classes: int, seed: int) -> tuple[dict[str, tuple[CarStyle, str]], list[tuple[str, str]]]:
    """``n_classes`` distinct models (name → style, colour); the last class duplicates the first."""
    rng = np.random.default_rng([seed, 4242])
    models: dict[str, tuple[CarStyle, str]] = {}
    seen = set()
    while len(models) < n_classes - 1:
        style = CarStyle(str(rng.choice(BODY_TYPES)), float(rng.choice([0.9, 1.0, 1.1])),
                         float(rng.choice([0.9, 1.0, 1.1])), bool(rng.random() < 0.3), bool(rng.random() < 0.2),
                         bool(rng.random() < 0.2))
        color = str(rng.choice(VEHICLE_COLORS))
        key = (style.body, style.length_scale, style.height_scale, style.spoiler, style.roof_rack, style.two_tone, color)
        if key in seen:
            continue
        seen.add(key)
        brand = BRANDS[len(models) % len(BRANDS)]
        gen = 1 + len(models) // len(BRANDS)
        year = 2015 + (len(models) * 3) % 9
        models[f"{brand}_{style.body.title()}_Gen{gen}_{year}_{year + 3}"] = (style, color)
    first = next(iter(models))
    brand, body, gen, y0, y1 = first.split("_")
    duplicate = f"{brand}_{body}_{gen}_Hybrid_{y0}_{int(y1) + 1}"
    models[duplicate] = models[first]
    return models, [(first, duplicate)]


def _photo(rng: np.random.Generator, style: CarStyle, color: str, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    camera = Camera.with_fov(2 * w, 2 * h, 0.9, horizon=0.4)
    scene = sample_object_scene(rng, "car", z_range=(5.5, 8.0), color=color, style=style,
                                yaw=float(rng.uniform(-math.pi, math.pi)))
    _, view = render(scene, camera, rng)
    box = visible_boxes(view)[1][0]
    crop = crop_square(view.rgb, box, margin=0.08, size=max(w, h))
    top = (crop.shape[0] - h) // 2
    return crop[top:top + h, :w]


def _csv_text(rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_cars(out: Path, spec: dict, seed: int) -> Path:
    models, duplicates = car_models(spec["classes"], seed)
    names = sorted(models)
    for name in tqdm(names, desc="cars train"):
        style, color = models[name]
        for k in range(spec["views"]):
            rng = scene_rng(seed, "cars", "train", name, k)
            save_image(out / "train" / name / f"{name}_{k:04d}.jpg", _photo(rng, style, color, spec["size"]))
    tests, answers = [["ID", "img_path"]], [["ID", "label"]]
    for i in tqdm(range(spec["test"]), desc="cars test"):
        rng = scene_rng(seed, "cars", "test", i)
        name = names[int(rng.integers(len(names)))]
        style, color = models[name]
        ident = f"TEST_{i:05d}"
        save_image(out / "test" / f"{ident}.jpg", _photo(rng, style, color, spec["size"]))
        tests.append([ident, f"./test/{ident}.jpg"])
        answers.append([ident, name])
    uniform = f"{1 / len(names):.6f}"
    submission = [["ID", *names]] + [[row[0], *[uniform] * len(names)] for row in tests[1:]]
    for filename, rows in (("test.csv", tests), ("sample_submission.csv", submission), ("test_answers.csv", answers)):
        text = _csv_text(rows)
        atomic_write(out / filename, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    write_json(out / "duplicate_classes.json", [list(pair) for pair in duplicates])
    return out
