"""Captions and referring commands for the synthetic world.

Captions describe objects by size, colour and place (COCO captions; region captions of chapter
01); commands refer to one object among distractors with the fewest attributes that make it
unique (colour, class, side, distance), as Talk2Car's human-written commands do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import CLASSES, VEHICLE_COLORS

PERSON_LIKE = ("pedestrian", "cyclist")
COMMAND_TEMPLATES = (
    "pull over behind the {d}",
    "follow the {d}",
    "stop next to the {d}",
    "park near the {d}",
    "watch out for the {d}",
    "slow down for the {d}",
    "keep a safe distance from the {d}",
    "wait for the {d} to move",
)


def size_word(area: float) -> str:
    """COCO's size buckets on the object's pixel area: small < 32², medium < 96², large."""
    return "small" if area < 32**2 else ("medium" if area < 96**2 else "large")


def noun_phrase(cls: str, color: str, size: str | None = None) -> str:
    """``a small red car``; people are described by their clothes (``a pedestrian in red``)."""
    noun = CLASSES[cls].noun
    lead = f"{size} " if size else ""
    if cls == "pedestrian":
        return f"{lead}{noun} in {color}"
    if cls == "cyclist":
        return f"{lead}cyclist in {color}"
    if cls == "cone":
        return f"{lead}{noun}"
    return f"{lead}{color} {noun}"


def class_prompt_ensemble(cls: str) -> list[str]:
    """Every colour × size phrase the captions use for ``cls``: zero-shot prompts in the words chapter
    01's teacher learned (chapter 05)."""
    return [f"a {noun_phrase(cls, colour, size)}" for colour in VEHICLE_COLORS for size in ("small", "medium", "large")]


def side_of(u_center: float, width: int) -> str:
    x = u_center / width
    return "on the left" if x < 0.4 else ("on the right" if x > 0.6 else "ahead of us")


@dataclass
class Visible:
    """An object as the camera sees it: its box (x, y, w, h) in pixels and its attributes."""

    instance_id: int
    cls: str
    color: str
    box: tuple[float, float, float, float]
    distance: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def image_captions(objects: list[Visible], width: int, rng: np.random.Generator, n: int = 5) -> list[str]:
    """Five captions of a street image, each naming up to three objects with size, colour and place."""
    captions = []
    ordered = sorted(objects, key=lambda o: -o.area)
    for _ in range(n):
        if not ordered:
            captions.append("an empty street between buildings")
            continue
        k = int(rng.integers(1, min(3, len(ordered)) + 1))
        picked = sorted(rng.choice(len(ordered), size=k, replace=False))
        parts = []
        for i in picked:
            o = ordered[i]
            phrase = noun_phrase(o.cls, o.color, size_word(o.area))
            parts.append(f"a {phrase} {side_of(o.box[0] + o.box[2] / 2, width)}")
        lead = str(rng.choice(["a street with", "a city road with", "a view from a car of", "traffic with"]))
        captions.append(f"{lead} " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]))
    return captions


def _description(target: Visible, others: list[Visible], width: int, rng: np.random.Generator) -> str:
    """The shortest description of ``target`` that none of ``others`` also matches."""
    side = side_of(target.box[0] + target.box[2] / 2, width)
    same_class = [o for o in others if CLASSES[o.cls].noun == CLASSES[target.cls].noun]
    same_color = [o for o in same_class if o.color == target.color or target.cls == "cone"]
    base = noun_phrase(target.cls, target.color)
    if not same_class and rng.random() < 0.4:
        return CLASSES[target.cls].noun  # "the bus" is enough when there is one bus
    if not same_color:
        return base
    same_side = [o for o in same_color if side_of(o.box[0] + o.box[2] / 2, width) == side]
    if not same_side:
        return f"{base} {side}"
    nearest = all(target.distance < o.distance for o in same_color)
    farthest = all(target.distance > o.distance for o in same_color)
    if nearest:
        return f"{base} closest to us"
    if farthest:
        return f"{base} furthest away"
    return f"{base} {side}"


def referring_command(target: Visible, others: list[Visible], width: int, rng: np.random.Generator) -> str:
    template = str(rng.choice(COMMAND_TEMPLATES))
    return template.format(d=_description(target, others, width, rng))
