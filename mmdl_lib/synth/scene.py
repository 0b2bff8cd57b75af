"""Scenes of the synthetic driving world: a road with lanes and sidewalks, buildings, trees and
poles, and road users placed in plausible, non-overlapping layouts (occlusions arise naturally).

Coordinates are KITTI's rectified camera frame: x right, y down, z forward, metres; the road
surface is the plane ``y = CAMERA_HEIGHT``. An object's ``location`` is its bottom centre and
``rotation_y`` its yaw about the y axis, exactly as in a KITTI ``label_2`` line.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from .catalog import CLASSES, CLOTHING_COLORS, COLORS, OOD_COLORS, VEHICLE_COLORS

CAMERA_HEIGHT = 1.65
LANE_WIDTH = 3.5
ROAD_HALF_WIDTH = 1.5 * LANE_WIDTH  # three lanes, the ego car in the middle one
SIDEWALK_WIDTH = 3.0
BODY_TYPES = ("sedan", "hatchback", "suv", "coupe", "pickup")


def scene_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator for one scene, independent of generation order: same keys, same scene."""
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


@dataclass
class CarStyle:
    """A car 'model': body type, proportions and details (the Hecto-style classes vary these)."""

    body: str = "sedan"
    length_scale: float = 1.0
    height_scale: float = 1.0
    spoiler: bool = False
    roof_rack: bool = False
    two_tone: bool = False


@dataclass
class SceneObject:
    instance_id: int
    cls: str
    color: str
    rgb: tuple[int, int, int]
    location: tuple[float, float, float]  # bottom centre (x, y, z)
    dims: tuple[float, float, float]  # h, w, l
    rotation_y: float
    style: CarStyle | None = None
    secondary_rgb: tuple[int, int, int] = (30, 30, 30)
    shape_seed: int = 0

    @property
    def distance(self) -> float:
        return float(math.hypot(self.location[0], self.location[2]))


@dataclass
class StaticElement:
    kind: str  # road, sidewalk, building, pole, vegetation
    box: tuple[float, float, float, float, float, float]  # x0, x1, y0, y1, z0, z1
    rgb: tuple[int, int, int]
    shape: str = "box"  # box | sphere | cylinder


@dataclass
class Scene:
    objects: list[SceneObject]
    static: list[StaticElement]
    sun: tuple[float, float, float] = (0.4, -0.8, 0.3)
    ood_ids: set[int] = field(default_factory=set)


def _yaw_along_road(rng: np.random.Generator, oncoming: bool) -> float:
    # KITTI: rotation_y = -pi/2 faces away from the camera (+z), +pi/2 towards it.
    base = math.pi / 2 if oncoming else -math.pi / 2
    return float(base + rng.normal(0, 0.08))


def sample_dims(rng: np.random.Generator, cls: str) -> tuple[float, float, float]:
    (h0, h1), (w0, w1), (l0, l1) = CLASSES[cls].size_range
    return float(rng.uniform(h0, h1)), float(rng.uniform(w0, w1)), float(rng.uniform(l0, l1))


def sample_car_style(rng: np.random.Generator) -> CarStyle:
    return CarStyle(
        body=str(rng.choice(BODY_TYPES)),
        length_scale=float(rng.uniform(0.92, 1.08)),
        height_scale=float(rng.uniform(0.92, 1.08)),
        spoiler=bool(rng.random() < 0.2),
        roof_rack=bool(rng.random() < 0.15),
        two_tone=bool(rng.random() < 0.15),
    )


def sample_static(rng: np.random.Generator, depth: float = 90.0) -> list[StaticElement]:
    y0 = CAMERA_HEIGHT
    asphalt = tuple(int(v) for v in rng.integers(70, 95, size=1).repeat(3))
    static = [StaticElement("road", (-60.0, 60.0, y0, y0 + 0.05, -2.0, depth + 40), asphalt)]
    for side in (-1, 1):
        xa, xb = sorted((side * ROAD_HALF_WIDTH, side * (ROAD_HALF_WIDTH + SIDEWALK_WIDTH)))
        static.append(StaticElement("sidewalk", (xa, xb, y0 - 0.15, y0 + 0.01, -2.0, depth + 40), (150, 145, 140)))
        z = float(rng.uniform(-2, 6))
        while z < depth:
            length = float(rng.uniform(8, 20))
            height = float(rng.uniform(6, 22))
            setback = float(rng.uniform(0.5, 4))
            x_near = side * (ROAD_HALF_WIDTH + SIDEWALK_WIDTH + setback)
            x_far = side * (ROAD_HALF_WIDTH + SIDEWALK_WIDTH + setback + float(rng.uniform(8, 15)))
            tint = rng.integers(90, 200, size=3)
            static.append(StaticElement("building", (*sorted((x_near, x_far)), y0 - height, y0, z, z + length),
                                        tuple(int(v) for v in tint)))
            z += length + float(rng.uniform(0, 6))
        z = float(rng.uniform(2, 10))
        while z < depth * 0.8:
            x = side * (ROAD_HALF_WIDTH + float(rng.uniform(0.6, 2.4)))
            if rng.random() < 0.5:
                r = float(rng.uniform(1.0, 2.0))
                trunk = float(rng.uniform(1.8, 3.0))
                static.append(StaticElement("vegetation", (x - 0.15, x + 0.15, y0 - trunk, y0, z - 0.15, z + 0.15),
                                            (90, 60, 35), "cylinder"))
                static.append(StaticElement("vegetation", (x - r, x + r, y0 - trunk - 2 * r, y0 - trunk, z - r, z + r),
                                            (40, int(rng.integers(100, 150)), 40), "sphere"))
            else:
                static.append(StaticElement("pole", (x - 0.08, x + 0.08, y0 - 5.0, y0, z - 0.08, z + 0.08),
                                            (110, 110, 115), "cylinder"))
            z += float(rng.uniform(8, 20))
    return static


def _free(candidate: tuple[float, float, float], objects: list[SceneObject]) -> bool:
    x, z, r = candidate
    for o in objects:
        ro = 0.5 * max(o.dims[1], o.dims[2]) + 0.4
        if math.hypot(x - o.location[0], z - o.location[2]) < r + ro:
            return False
    return True


def _place(rng: np.random.Generator, cls: str, objects: list[SceneObject], z_range: tuple[float, float],
           x_choices: str) -> tuple[float, float, float] | None:
    h, w, l = sample_dims(rng, cls)
    for _ in range(20):
        z = float(rng.uniform(*z_range))
        if x_choices == "lane":
            lane = int(rng.integers(-1, 2))
            x = lane * LANE_WIDTH + float(rng.normal(0, 0.3))
            if lane == 0 and z < 7:
                continue  # keep the space just ahead of the ego car free
        elif x_choices == "sidewalk":
            side = rng.choice([-1, 1])
            x = float(side * (ROAD_HALF_WIDTH + rng.uniform(0.5, SIDEWALK_WIDTH - 0.5)))
        else:  # anywhere on the road
            x = float(rng.uniform(-ROAD_HALF_WIDTH + 0.6, ROAD_HALF_WIDTH - 0.6))
        if _free((x, z, 0.5 * max(w, l)), objects):
            return x, z, h
    return None


def sample_driving_scene(
    rng: np.random.Generator,
    n_objects: tuple[int, int] = (3, 8),
    classes: tuple[str, ...] = ("car", "car", "car", "van", "truck", "bus", "pedestrian", "cyclist", "cone"),
    z_range: tuple[float, float] = (6.0, 45.0),
    n_ood: int = 0,
) -> Scene:
    """A random street scene. ``n_ood`` adds that many out-of-distribution objects on the road."""
    objects: list[SceneObject] = []
    target = int(rng.integers(n_objects[0], n_objects[1] + 1))
    tries = 0
    while len(objects) < target and tries < 4 * target:
        tries += 1
        cls = str(rng.choice(classes))
        where = {"pedestrian": "sidewalk" if rng.random() < 0.7 else "road", "cone": "road"}.get(cls, "lane")
        spot = _place(rng, cls, objects, z_range, where)
        if spot is None:
            continue
        objects.append(make_object(rng, cls, len(objects) + 1, spot, oncoming=spot[0] < -1.0))
    ood_ids = set()
    for _ in range(n_ood):
        cls = str(rng.choice(["animal", "debris", "odd_shape"]))
        spot = _place(rng, cls, objects, (6.0, 25.0), "road")
        if spot is None:
            continue
        obj = make_object(rng, cls, len(objects) + 1, spot, oncoming=False)
        objects.append(obj)
        ood_ids.add(obj.instance_id)
    return Scene(objects, sample_static(rng), sun=_sun(rng), ood_ids=ood_ids)


def _sun(rng: np.random.Generator) -> tuple[float, float, float]:
    v = np.array([rng.uniform(-0.6, 0.6), -rng.uniform(0.5, 1.0), rng.uniform(-0.5, 0.5)])
    v /= np.linalg.norm(v)
    return tuple(float(x) for x in v)


def make_object(rng: np.random.Generator, cls: str, instance_id: int, spot: tuple[float, float, float],
                oncoming: bool = False, color: str | None = None, style: CarStyle | None = None) -> SceneObject:
    x, z, _ = spot
    h, w, l = sample_dims(rng, cls)
    yaw = _yaw_along_road(rng, oncoming)
    palette = COLORS
    if cls in ("car", "van", "truck", "bus"):
        color = color or str(rng.choice(VEHICLE_COLORS))
    elif cls in ("pedestrian", "cyclist"):
        color = color or str(rng.choice(CLOTHING_COLORS))
        yaw = float(rng.uniform(-math.pi, math.pi)) if cls == "pedestrian" else yaw
    elif cls == "cone":
        color, yaw = "orange", 0.0
    else:
        palette = OOD_COLORS
        color = color or str(rng.choice(list(OOD_COLORS)))
        yaw = float(rng.uniform(-math.pi, math.pi))
    if cls == "car":
        style = style or sample_car_style(rng)
        h, l = h * style.height_scale, l * style.length_scale
    secondary = tuple(int(v) for v in rng.integers(20, 235, size=3))
    return SceneObject(instance_id, cls, color, palette[color], (x, CAMERA_HEIGHT, z), (h, w, l),
                       yaw, style, secondary, int(rng.integers(0, 2**31 - 1)))


def sample_object_scene(rng: np.random.Generator, cls: str, z_range: tuple[float, float] = (6.0, 12.0),
                        color: str | None = None, style: CarStyle | None = None, yaw: float | None = None,
                        n_others: int = 0) -> Scene:
    """A scene centred on one object (instance 1), for object-centric datasets."""
    x = float(rng.uniform(-1.0, 1.0))
    z = float(rng.uniform(*z_range))
    obj = make_object(rng, cls, 1, (x, z, 0.0), oncoming=bool(rng.random() < 0.5), color=color, style=style)
    if yaw is not None:
        obj.rotation_y = yaw
    objects = [obj]
    for _ in range(n_others):
        other = str(rng.choice(("car", "van", "pedestrian", "truck")))
        spot = _place(rng, other, objects, (z + 8, z + 30), "lane")
        if spot is not None:
            objects.append(make_object(rng, other, len(objects) + 1, spot))
    return Scene(objects, sample_static(rng), sun=_sun(rng))
