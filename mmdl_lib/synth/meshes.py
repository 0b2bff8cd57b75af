"""Triangle meshes of scene elements, built from Open3D primitives and placed with NumPy.

An object is made of parts in its own frame (x along its length, y down, z along its width,
origin at its bottom centre), then turned by ``rotation_y`` and moved to its ``location``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from .catalog import CLASSES, CS_BICYCLE, CS_PERSON, CS_RIDER, STUFF
from .scene import SceneObject, StaticElement

Mesh = tuple[np.ndarray, np.ndarray]  # vertices (N, 3) float32, triangles (M, 3) uint32


@dataclass
class Part:
    vertices: np.ndarray
    triangles: np.ndarray
    rgb: tuple[int, int, int]
    semantic: int
    reflectivity: float
    instance_id: int = 0  # 0: static scene (stuff)
    kind: str = "object"


def _legacy(mesh: o3d.geometry.TriangleMesh) -> Mesh:
    return np.asarray(mesh.vertices, dtype=np.float32).copy(), np.asarray(mesh.triangles, dtype=np.uint32).copy()


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> Mesh:
    v, f = _legacy(o3d.geometry.TriangleMesh.create_box(x1 - x0, y1 - y0, z1 - z0))
    return v + np.array([x0, y0, z0], dtype=np.float32), f


def sphere(center: tuple[float, float, float], radii: tuple[float, float, float], resolution: int = 10) -> Mesh:
    v, f = _legacy(o3d.geometry.TriangleMesh.create_sphere(1.0, resolution))
    return v * np.array(radii, dtype=np.float32) + np.array(center, dtype=np.float32), f


def cylinder(center: tuple[float, float, float], radius: float, height: float, axis: str) -> Mesh:
    """A cylinder along ``axis`` ('y' vertical, 'z' across the object)."""
    v, f = _legacy(o3d.geometry.TriangleMesh.create_cylinder(radius, height, resolution=12, split=1))
    if axis == "y":
        v = v[:, [0, 2, 1]]
        f = f[:, ::-1].copy()  # keep the winding outward after the axis swap
    return v + np.array(center, dtype=np.float32), f


def cone(base_center: tuple[float, float, float], radius: float, height: float) -> Mesh:
    v, f = _legacy(o3d.geometry.TriangleMesh.create_cone(radius, height, resolution=12, split=1))
    v = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)  # apex up (towards -y)
    return v + np.array(base_center, dtype=np.float32), f


def _polyhedron(kind: str, radius: float) -> Mesh:
    make = {"icosahedron": o3d.geometry.TriangleMesh.create_icosahedron,
            "octahedron": o3d.geometry.TriangleMesh.create_octahedron,
            "tetrahedron": o3d.geometry.TriangleMesh.create_tetrahedron}[kind]
    return _legacy(make(radius))


def place(mesh: Mesh, rotation_y: float, location: tuple[float, float, float]) -> Mesh:
    """Object frame → camera frame, with KITTI's yaw convention (R_y(ry))."""
    v, f = mesh
    c, s = math.cos(rotation_y), math.sin(rotation_y)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)
    return (v @ rot.T + np.array(location, dtype=np.float32)).astype(np.float32), f


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * factor))) for c in rgb)


def _wheels(l: float, w: float, r: float, xs: tuple[float, ...]) -> list[Mesh]:
    return [cylinder((x, -r, side * (w / 2 - 0.12)), r, 0.25, "z") for x in xs for side in (-1, 1)]


def _vehicle_parts(o: SceneObject) -> list[tuple[Mesh, tuple[int, int, int]]]:
    h, w, l = o.dims
    glass = (40, 50, 60)
    dark = (20, 20, 22)
    parts: list[tuple[Mesh, tuple[int, int, int]]] = []
    r = 0.32 if o.cls in ("car", "van") else 0.5
    if o.cls == "car":
        body = o.style.body if o.style else "sedan"
        sill = 0.55 * h if body != "suv" else 0.62 * h
        parts.append((box(-l / 2, l / 2, -sill, -0.18, -w / 2, w / 2), o.rgb))
        cabin = {"sedan": (-0.30, 0.20), "hatchback": (-0.45, 0.15), "suv": (-0.45, 0.25),
                 "coupe": (-0.22, 0.12), "pickup": (-0.05, 0.25)}[body]
        roof_rgb = o.secondary_rgb if (o.style and o.style.two_tone) else o.rgb
        parts.append((box(cabin[0] * l, cabin[1] * l, -h, -sill, -0.45 * w, 0.45 * w), roof_rgb))
        parts.append((box(cabin[0] * l - 0.02, cabin[1] * l + 0.02, -h + 0.08, -sill - 0.05,
                          -0.46 * w, 0.46 * w), glass))
        if body == "pickup":
            parts.append((box(-l / 2, -0.05 * l, -sill - 0.25, -sill, -w / 2, -w / 2 + 0.08), o.rgb))
            parts.append((box(-l / 2, -0.05 * l, -sill - 0.25, -sill, w / 2 - 0.08, w / 2), o.rgb))
        if o.style and o.style.spoiler:
            parts.append((box(-l / 2, -l / 2 + 0.25, -sill - 0.15, -sill - 0.1, -0.45 * w, 0.45 * w), dark))
        if o.style and o.style.roof_rack:
            parts.append((box(cabin[0] * l + 0.1, cabin[1] * l - 0.1, -h - 0.08, -h, -0.4 * w, 0.4 * w), dark))
        parts += [(m, dark) for m in _wheels(l, w, r, (-0.32 * l, 0.32 * l))]
    elif o.cls == "van":
        parts.append((box(-l / 2, l / 2, -h, -0.18, -w / 2, w / 2), o.rgb))
        parts.append((box(0.3 * l, l / 2 + 0.02, -0.92 * h, -0.55 * h, -0.46 * w, 0.46 * w), glass))
        parts += [(m, dark) for m in _wheels(l, w, r, (-0.33 * l, 0.33 * l))]
    elif o.cls == "truck":
        cab = 0.25 * l
        parts.append((box(l / 2 - cab, l / 2, -0.8 * h, -0.3, -w / 2, w / 2), o.rgb))
        parts.append((box(l / 2 - 0.6 * cab, l / 2 + 0.02, -0.75 * h, -0.5 * h, -0.46 * w, 0.46 * w), glass))
        parts.append((box(-l / 2, l / 2 - cab - 0.2, -h, -0.35, -w / 2, w / 2), (200, 200, 200)))
        parts.append((box(-l / 2 - 0.01, l / 2 - cab - 0.15, -0.6 * h, -0.45 * h, -w / 2 - 0.01, w / 2 + 0.01),
                      o.rgb))
        parts += [(m, dark) for m in _wheels(l, w, r, (-0.35 * l, -0.2 * l, 0.35 * l))]
    elif o.cls == "bus":
        parts.append((box(-l / 2, l / 2, -h, -0.3, -w / 2, w / 2), o.rgb))
        parts.append((box(-l / 2 + 0.3, l / 2 + 0.02, -0.85 * h, -0.55 * h, -w / 2 - 0.02, w / 2 + 0.02), glass))
        parts += [(m, dark) for m in _wheels(l, w, r, (-0.3 * l, 0.35 * l))]
    return parts


def _ood_parts(o: SceneObject) -> list[tuple[Mesh, tuple[int, int, int]]]:
    h, w, l = o.dims
    rng = np.random.default_rng(o.shape_seed)
    if o.cls == "animal":
        leg = 0.45 * h
        parts = [(sphere((0, -leg - 0.3 * h, 0), (0.5 * l, 0.3 * h, 0.5 * w)), o.rgb),
                 (sphere((0.55 * l, -leg - 0.55 * h, 0), (0.18 * l, 0.16 * h, 0.3 * w)), o.rgb)]
        for x in (-0.3 * l, 0.3 * l):
            for z in (-0.25 * w, 0.25 * w):
                parts.append((box(x - 0.05, x + 0.05, -leg - 0.1, 0, z - 0.05, z + 0.05), _shade(o.rgb, 0.6)))
        return parts
    if o.cls == "debris":
        parts = []
        for _ in range(int(rng.integers(2, 5))):
            s = rng.uniform(0.2, 0.5, size=3) * np.array([l, h, w])
            c = (rng.uniform(-0.3, 0.3) * l, -s[1] / 2, rng.uniform(-0.3, 0.3) * w)
            v, f = box(-s[0] / 2, s[0] / 2, -s[1] / 2, s[1] / 2, -s[2] / 2, s[2] / 2)
            v, f = place((v, f), float(rng.uniform(-math.pi, math.pi)), c)
            parts.append(((v, f), o.rgb if rng.random() < 0.5 else o.secondary_rgb))
        return parts
    kind = str(rng.choice(["icosahedron", "octahedron", "tetrahedron", "torus"]))
    if kind == "torus":
        v, f = _legacy(o3d.geometry.TriangleMesh.create_torus(0.35 * l, 0.12 * l, 16, 8))
        v = v[:, [0, 2, 1]] + np.array([0, -0.47 * l, 0], dtype=np.float32)
        f = f[:, ::-1].copy()
    else:
        v, f = _polyhedron(kind, 0.5 * h)
        v = v + np.array([0, -0.5 * h, 0], dtype=np.float32)
    return [((v.astype(np.float32), f), o.rgb)]


def object_parts(o: SceneObject) -> list[Part]:
    """All parts of a road user or OOD object, placed in the camera frame."""
    spec = CLASSES[o.cls]
    h, w, l = o.dims
    skin = (220, 180, 150)
    semantic = spec.cityscapes
    local: list[tuple[Mesh, tuple[int, int, int], int]] = []
    if o.cls in ("car", "van", "truck", "bus"):
        local = [(m, c, semantic) for m, c in _vehicle_parts(o)]
    elif o.cls == "pedestrian":
        local = [
            (box(-0.15, 0.15, -0.48 * h, 0, -0.18, 0.18), (40, 40, 60), CS_PERSON),
            (box(-0.18, 0.18, -0.85 * h, -0.48 * h, -w / 2, w / 2), o.rgb, CS_PERSON),
            (sphere((0, -0.92 * h, 0), (0.11, 0.13, 0.11)), skin, CS_PERSON),
        ]
    elif o.cls == "cyclist":
        local = [
            (cylinder((-0.55, -0.33, 0), 0.33, 0.06, "z"), (20, 20, 20), CS_BICYCLE),
            (cylinder((0.55, -0.33, 0), 0.33, 0.06, "z"), (20, 20, 20), CS_BICYCLE),
            (box(-0.55, 0.55, -0.75, -0.3, -0.03, 0.03), o.secondary_rgb, CS_BICYCLE),
            (box(-0.25, 0.1, -0.9 * h, -0.45 * h, -0.2, 0.2), o.rgb, CS_RIDER),
            (sphere((0.05, -0.95 * h, 0), (0.11, 0.12, 0.11)), skin, CS_RIDER),
        ]
    elif o.cls == "cone":
        local = [(cone((0, -0.03, 0), w / 2, h), o.rgb, semantic),
                 (box(-w / 2, w / 2, -0.03, 0, -w / 2, w / 2), (30, 30, 30), semantic)]
    else:
        local = [(m, c, semantic) for m, c in _ood_parts(o)]
    parts = []
    for mesh, rgb, sem in local:
        v, f = place(mesh, o.rotation_y, o.location)
        parts.append(Part(v, f, rgb, sem, spec.reflectivity, o.instance_id, o.cls))
    return parts


def static_parts(elements: list[StaticElement]) -> list[Part]:
    parts = []
    for e in elements:
        x0, x1, y0, y1, z0, z1 = e.box
        if e.shape == "sphere":
            mesh = sphere(((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2), ((x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2))
        elif e.shape == "cylinder":
            mesh = cylinder(((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2), (x1 - x0) / 2, y1 - y0, "y")
        else:
            mesh = box(x0, x1, y0, y1, z0, z1)
        semantic, reflectivity = STUFF[e.kind]
        parts.append(Part(mesh[0], mesh[1], e.rgb, semantic, reflectivity, 0, e.kind))
    return parts
