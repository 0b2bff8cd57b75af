"""What the synthetic world contains: colours, object classes and how each maps onto the label
sets of the real datasets (COCO category, KITTI type, Cityscapes label id, nuScenes name).

Cityscapes label ids follow the official ``labels.py`` of cityscapesScripts.
"""

from __future__ import annotations

from dataclasses import dataclass

# Named colours (sRGB 0..255). Names are what captions and commands say.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 30),
    "blue": (30, 70, 200),
    "green": (40, 150, 50),
    "yellow": (230, 200, 30),
    "white": (235, 235, 235),
    "black": (25, 25, 28),
    "silver": (150, 155, 160),
    "orange": (235, 120, 20),
}
VEHICLE_COLORS = ("red", "blue", "green", "yellow", "white", "black", "silver")
CLOTHING_COLORS = ("red", "blue", "green", "yellow", "white", "black")
OOD_COLORS: dict[str, tuple[int, int, int]] = {
    "brown": (120, 80, 40),
    "magenta": (210, 40, 190),
    "teal": (20, 170, 160),
    "cream": (240, 225, 190),
}

# Cityscapes label ids (official labels.py).
CS_ROAD, CS_SIDEWALK, CS_BUILDING, CS_POLE, CS_VEGETATION, CS_SKY = 7, 8, 11, 17, 21, 23
CS_PERSON, CS_RIDER, CS_CAR, CS_TRUCK, CS_BUS, CS_BICYCLE = 24, 25, 26, 27, 28, 33
CS_DYNAMIC = 5  # movable objects without a class of their own (traffic cones)
CS_UNLABELED = 0


@dataclass(frozen=True)
class ObjectClass:
    """One class of road user or object, with its size range (h, w, l in metres) and labels."""

    name: str
    noun: str  # what captions and commands call it
    size_range: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    coco: str | None  # COCO category name, or None when COCO has no such class
    kitti: str
    cityscapes: int
    nuscenes: str
    reflectivity: float = 0.5
    ood: bool = False


CLASSES: dict[str, ObjectClass] = {c.name: c for c in [
    ObjectClass("car", "car", ((1.4, 1.6), (1.6, 1.85), (3.8, 4.6)), "car", "Car", CS_CAR, "vehicle.car"),
    ObjectClass("van", "van", ((1.9, 2.3), (1.8, 2.0), (4.5, 5.2)), "car", "Van", CS_CAR, "vehicle.car"),
    ObjectClass("truck", "truck", ((2.8, 3.4), (2.3, 2.5), (6.5, 8.5)), "truck", "Truck", CS_TRUCK, "vehicle.truck"),
    ObjectClass("bus", "bus", ((3.0, 3.3), (2.5, 2.6), (10.0, 12.0)), "bus", "Misc", CS_BUS, "vehicle.bus.rigid"),
    ObjectClass("pedestrian", "pedestrian", ((1.6, 1.9), (0.5, 0.65), (0.4, 0.6)), "person", "Pedestrian", CS_PERSON,
                "human.pedestrian.adult", 0.3),
    ObjectClass("cyclist", "cyclist", ((1.65, 1.85), (0.5, 0.65), (1.6, 1.8)), "bicycle", "Cyclist", CS_RIDER,
                "vehicle.bicycle", 0.35),
    ObjectClass("cone", "traffic cone", ((0.5, 0.75), (0.35, 0.45), (0.35, 0.45)), None, "Misc", CS_DYNAMIC,
                "movable_object.trafficcone", 0.8),
    # Out-of-distribution classes: never in a training scene, only in the OOD set.
    ObjectClass("animal", "animal", ((0.7, 1.3), (0.4, 0.7), (0.9, 1.8)), None, "DontCare", CS_UNLABELED, "animal", 0.3,
                True),
    ObjectClass("debris", "debris", ((0.3, 0.8), (0.5, 1.2), (0.5, 1.4)), None, "DontCare", CS_UNLABELED,
                "movable_object.debris", 0.4, True),
    ObjectClass("odd_shape", "object", ((0.6, 1.2), (0.6, 1.2), (0.6, 1.2)), None, "DontCare", CS_UNLABELED,
                "movable_object.debris", 0.6, True),
]}
ROAD_USERS = ("car", "van", "truck", "bus", "pedestrian", "cyclist", "cone")
OOD_CLASSES = ("animal", "debris", "odd_shape")

# COCO 2017 category ids of the classes the world writes.
COCO_CATEGORIES = {"person": (1, "person"), "bicycle": (2, "vehicle"), "car": (3, "vehicle"),
                   "bus": (6, "vehicle"), "truck": (8, "vehicle")}

# Static scene parts: semantic label and LiDAR reflectivity.
STUFF = {
    "road": (CS_ROAD, 0.15),
    "sidewalk": (CS_SIDEWALK, 0.25),
    "building": (CS_BUILDING, 0.3),
    "pole": (CS_POLE, 0.5),
    "vegetation": (CS_VEGETATION, 0.45),
}
