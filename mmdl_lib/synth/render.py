"""Rendering with Open3D's ray casting: one cast per pixel gives colour, depth, semantic and
instance maps at once; one cast per laser gives a multi-beam LiDAR scan with intensity.

The world frame is KITTI's rectified camera frame (x right, y down, z forward). The colour
camera ("camera 2") sits 6 cm left of its origin; the LiDAR is mounted as in KITTI, 27 cm
behind and 8 cm above it. :class:`Calibration` writes exactly the matrices that map one into
the other, so ``P2 · R0_rect · Tr_velo_to_cam · X`` lands a LiDAR point on its pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

from .catalog import CS_SKY
from .meshes import Part, object_parts, static_parts
from .scene import LANE_WIDTH, ROAD_HALF_WIDTH, Scene

CAMERA2_X = -0.06  # camera 2's centre in the rectified frame (KITTI's P2 has t_x ≈ +0.06 m·fx)
VELO_IN_RECT = (0.0, -0.08, -0.27)  # LiDAR origin in the rectified frame
# LiDAR axes (x forward, y left, z up) expressed in the rectified camera frame.
VELO_TO_RECT_ROT = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=np.float64)


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    focal: float  # pixels (fx = fy)
    cx: float
    cy: float

    @classmethod
    def with_fov(cls, width: int, height: int, focal_per_width: float, horizon: float = 0.5) -> "Camera":
        return cls(width, height, focal_per_width * width, (width - 1) / 2, horizon * (height - 1))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.focal, 0, self.cx], [0, self.focal, self.cy], [0, 0, 1]])


def _rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64)
    a /= np.linalg.norm(a)
    t = math.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * k @ k


@dataclass
class Calibration:
    """The KITTI calibration of one frame: ``P0..P3``, ``R0_rect``, ``Tr_velo_to_cam``, ``Tr_imu_to_velo``."""

    P: list[np.ndarray]
    R0_rect: np.ndarray
    Tr_velo_to_cam: np.ndarray
    Tr_imu_to_velo: np.ndarray = field(default_factory=lambda: np.hstack([np.eye(3), [[-0.81], [0.32], [-0.8]]]))

    @classmethod
    def for_camera(cls, camera: Camera) -> "Calibration":
        K = camera.K
        # Cameras 0..3 of the KITTI rig, offsets along x as in the real setup.
        offsets = (0.0, -0.54, -CAMERA2_X, -0.54 - CAMERA2_X - 0.005)
        P = [K @ np.hstack([np.eye(3), [[tx], [0.0], [0.0]]]) for tx in offsets]
        R0 = _rotation((0.3, 1.0, 0.2), 0.45)  # a small rectifying rotation, as in KITTI
        M = np.hstack([VELO_TO_RECT_ROT, np.array(VELO_IN_RECT)[:, None]])
        return cls(P, R0, R0.T @ M)

    def velo_to_rect(self, points: np.ndarray) -> np.ndarray:
        homo = np.hstack([points[:, :3], np.ones((len(points), 1))])
        return (self.R0_rect @ (self.Tr_velo_to_cam @ homo.T)).T

    def rect_to_image(self, points: np.ndarray, camera: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (u, v) and depth of rectified-frame points."""
        homo = np.hstack([points[:, :3], np.ones((len(points), 1))])
        proj = (self.P[camera] @ homo.T).T
        return proj[:, :2] / proj[:, 2:3], proj[:, 2]

    def to_text(self) -> str:
        def row(name: str, m: np.ndarray) -> str:
            return f"{name}: " + " ".join(f"{v:.12e}" for v in np.asarray(m).ravel())

        lines = [row(f"P{i}", p) for i, p in enumerate(self.P)]
        lines += [row("R0_rect", self.R0_rect), row("Tr_velo_to_cam", self.Tr_velo_to_cam),
                  row("Tr_imu_to_velo", self.Tr_imu_to_velo)]
        return "\n".join(lines) + "\n"


@dataclass
class View:
    """What the camera sees: per-pixel colour, depth (0 = sky), Cityscapes label id and instance id."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32, metres along the optical axis
    semantic: np.ndarray  # (H, W) uint8
    instance: np.ndarray  # (H, W) int32, 0 = stuff
    unoccluded_pixels: dict[int, int] = field(default_factory=dict)  # instance → pixels if nothing hid it


class SceneRenderer:
    """Builds the ray-casting scene of one :class:`Scene` once, then renders views and scans."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.parts: list[Part] = static_parts(scene.static)
        for obj in scene.objects:
            self.parts += object_parts(obj)
        self.raycaster = o3d.t.geometry.RaycastingScene()
        for part in self.parts:
            self.raycaster.add_triangles(o3d.core.Tensor(part.vertices), o3d.core.Tensor(part.triangles))
        n = len(self.parts)
        # Lookup tables indexed by geometry id; index n stands for "no hit".
        self.semantic = np.array([p.semantic for p in self.parts] + [CS_SKY], dtype=np.uint8)
        self.instance = np.array([p.instance_id for p in self.parts] + [0], dtype=np.int32)
        self.rgb = np.array([p.rgb for p in self.parts] + [(0, 0, 0)], dtype=np.float32)
        self.reflectivity = np.array([p.reflectivity for p in self.parts] + [0.0], dtype=np.float32)
        self.is_road = np.array([p.kind == "road" for p in self.parts] + [False])
        self._miss = n

    def _cast(self, origins: np.ndarray, directions: np.ndarray) -> dict[str, np.ndarray]:
        rays = np.concatenate([origins, directions], axis=-1).astype(np.float32)
        hits = self.raycaster.cast_rays(o3d.core.Tensor(rays))
        gid = hits["geometry_ids"].numpy().astype(np.int64)
        gid[gid == o3d.t.geometry.RaycastingScene.INVALID_ID] = self._miss
        return {"t": hits["t_hit"].numpy(), "gid": gid, "normal": hits["primitive_normals"].numpy()}

    def _markings(self, points: np.ndarray) -> np.ndarray:
        """Lane lines painted on the road: dashed between lanes, solid at the road edges."""
        x, z = points[..., 0], points[..., 2]
        dashed = (np.abs(np.abs(x) - LANE_WIDTH / 2) < 0.08) & ((z % 6.0) < 3.0)
        solid = np.abs(np.abs(x) - (ROAD_HALF_WIDTH - 0.2)) < 0.08
        return dashed | solid

    def render(self, camera: Camera, rng: np.random.Generator | None = None, count_unoccluded: bool = False) -> View:
        u, v = np.meshgrid(np.arange(camera.width, dtype=np.float32), np.arange(camera.height, dtype=np.float32))
        directions = np.stack([(u - camera.cx) / camera.focal, (v - camera.cy) / camera.focal, np.ones_like(u)], -1)
        origins = np.broadcast_to(np.array([CAMERA2_X, 0.0, 0.0], dtype=np.float32), directions.shape)
        hit = self._cast(origins, directions)
        gid, t = hit["gid"], hit["t"]
        miss = gid == self._miss
        depth = np.where(miss, 0.0, t).astype(np.float32)  # direction z = 1, so t is the depth

        normal = hit["normal"]
        facing = np.sum(normal * directions, axis=-1, keepdims=True)
        normal = np.where(facing > 0, -normal, normal)
        lambert = np.clip(normal @ np.asarray(self.scene.sun, dtype=np.float32), 0, 1)[..., None]
        color = self.rgb[gid] * (0.45 + 0.55 * lambert)
        points = origins + directions * np.where(miss, 0, t)[..., None]
        painted = self.is_road[gid] & self._markings(points)
        color[painted] = 225.0
        fog = np.clip(depth / 160.0, 0, 0.5)[..., None]
        sky = np.stack([110 + 90 * v / camera.height, 160 + 60 * v / camera.height, np.full_like(v, 235)], -1)
        color = np.where(miss[..., None], sky, color * (1 - fog) + 200 * fog)
        if rng is not None:
            color = color + rng.normal(0, 2.5, size=color.shape)
        rgb = np.clip(color, 0, 255).astype(np.uint8)

        view = View(rgb, depth, self.semantic[gid], self.instance[gid])
        if count_unoccluded:
            view.unoccluded_pixels = self._unoccluded(origins, directions)
        return view

    def _unoccluded(self, origins: np.ndarray, directions: np.ndarray) -> dict[int, int]:
        """Pixels each object would cover with nothing in front of it (for occlusion levels)."""
        rays = np.concatenate([origins, directions], -1).reshape(-1, 6).astype(np.float32)
        found = self.raycaster.list_intersections(o3d.core.Tensor(rays))
        ray_ids = found["ray_ids"].numpy().astype(np.int64)
        instance = self.instance[found["geometry_ids"].numpy().astype(np.int64)]
        keep = instance > 0
        pairs = np.unique(np.stack([ray_ids[keep], instance[keep]], 1), axis=0)
        ids, counts = np.unique(pairs[:, 1], return_counts=True) if len(pairs) else ([], [])
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def scan(self, calib: Calibration, beams: int = 64, azimuths: int = 1024, max_range: float = 80.0,
             rng: np.random.Generator | None = None) -> np.ndarray:
        """A spinning multi-beam LiDAR (KITTI's HDL-64E field of view, +2°..−24.9°).

        Returns float32 (N, 4): x, y, z in the LiDAR frame and reflectance in 0..1.
        """
        elevation = np.radians(np.linspace(2.0, -24.9, beams))
        azimuth = np.radians(np.linspace(-180.0, 180.0, azimuths, endpoint=False))
        el, az = np.meshgrid(elevation, azimuth, indexing="ij")
        dirs_velo = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)
        dirs_rect = dirs_velo @ VELO_TO_RECT_ROT.T
        origins = np.broadcast_to(np.array(VELO_IN_RECT), dirs_rect.shape)
        hit = self._cast(origins, dirs_rect)
        ok = (hit["gid"] != self._miss) & (hit["t"] < max_range)
        r = hit["t"][ok].astype(np.float64)
        if rng is not None:
            r = r + rng.normal(0, 0.005, size=r.shape)
        xyz = dirs_velo[ok] * r[:, None]
        gid = hit["gid"][ok]
        cos_inc = np.abs(np.sum(hit["normal"][ok] * dirs_rect[ok], -1))
        reflect = self.reflectivity[gid].copy()
        points_rect = origins[ok] + dirs_rect[ok] * r[:, None]
        reflect[self.is_road[gid] & self._markings(points_rect)] = 0.7
        intensity = np.clip(reflect * (0.4 + 0.6 * cos_inc), 0, 1)
        return np.hstack([xyz, intensity[:, None]]).astype(np.float32)
