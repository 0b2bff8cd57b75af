"""Depth map → pseudo-LiDAR point cloud in the KITTI velodyne frame (chapter 03, seed 001).

A pixel (u, v) with depth d (its camera-frame z) is the point X_rect with ``P2 · [X_rect, 1] = d·[u, v, 1]``;
``inv(R0_rect · Tr_velo_to_cam)`` takes it to the velodyne frame. Both steps are affine in
``d·[u, v, 1]``, so :class:`PixelRays` folds them into one 3×4 matrix per calibration and a frame
costs one multiply-add per pixel. The seed's three fixes are parameters of :func:`depth_to_points`:
a depth scale factor (the seed multiplied by 8), random downsampling (to ~10 % of the pixels) and a
constant intensity (0.5) in place of the reflectance that a camera cannot measure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data.kitti import KittiCalib, KittiObject, has_depth_maps, object_pixels, read_depth_maps
from ...errors import DataFormatError, MMDLError


def camera_to_velodyne(calib: KittiCalib) -> np.ndarray:
    """3×4 affine map from ``d·[u, v, 1]`` (pixel times depth) to velodyne-frame x, y, z."""
    p = calib.P2
    to_rect = np.eye(4)
    to_rect[:3, :3] = np.linalg.inv(p[:, :3])  # X_rect = M⁻¹ (d·[u, v, 1] − p₄)
    to_rect[:3, 3] = -to_rect[:3, :3] @ p[:, 3]
    velo_to_rect = np.eye(4)
    velo_to_rect[:3, :3] = calib.R0_rect @ calib.Tr_velo_to_cam[:, :3]
    velo_to_rect[:3, 3] = calib.R0_rect @ calib.Tr_velo_to_cam[:, 3]
    return (np.linalg.inv(velo_to_rect) @ to_rect)[:3]


@dataclass
class PixelRays:
    """Per-pixel velodyne-frame ray directions of one calibration and image size: a point is
    ``depth · direction + origin``. Build once per camera, reuse for every frame."""

    directions: np.ndarray  # (H·W, 3) float32
    origin: np.ndarray  # (3,) float32
    size: tuple[int, int]  # (width, height)
    order: np.ndarray | None = None  # a random permutation of the pixels, for fast subsampling
    ordered_directions: np.ndarray | None = None  # ``directions[order]``: a window of it is contiguous

    def sample(self, keep_ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random ``keep_ratio`` share of the pixels: (indices, their directions). It is a window of
        a fixed random permutation at a random offset, so each pixel is kept with probability
        ``keep_ratio`` and a frame costs O(kept) with no per-pixel random draw and no gather."""
        n = len(self.directions)
        if self.order is None:
            self.order = np.random.default_rng(0).permutation(n)
            self.ordered_directions = self.directions[self.order]
        count, start = int(round(n * keep_ratio)), int(rng.integers(n))
        end = start + count
        if end <= n:
            return self.order[start:end], self.ordered_directions[start:end]
        return (np.concatenate([self.order[start:], self.order[:end - n]]),
                np.concatenate([self.ordered_directions[start:], self.ordered_directions[:end - n]]))

    @classmethod
    def build(cls, calib: KittiCalib, size: tuple[int, int]) -> "PixelRays":
        width, height = size
        affine = camera_to_velodyne(calib)
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        pixels = np.stack([u.ravel(), v.ravel(), np.ones(width * height)], axis=1)
        return cls((pixels @ affine[:, :3].T).astype(np.float32), affine[:, 3].astype(np.float32), (width, height))


def depth_to_points(depth: np.ndarray, rays: PixelRays, scale: float = 1.0, keep_ratio: float = 1.0,
                    intensity: float = 0.5, max_depth: float = 80.0,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """An (N, 4) float32 velodyne-format cloud (x, y, z, intensity) from an (H, W) depth map.

    ``scale`` multiplies the depth first (the seed's ×8, or :func:`estimate_depth_scale`);
    pixels with no depth (≤ 0) or beyond ``max_depth`` metres are dropped; ``keep_ratio`` keeps a
    random share of the rest (``rng`` draws it); ``intensity`` fills the fourth column.
    """
    if depth.shape != (rays.size[1], rays.size[0]):
        raise MMDLError(f"depth map of {depth.shape[1]}×{depth.shape[0]} does not match the rays' "
                        f"{rays.size[0]}×{rays.size[1]} image")
    if not 0 < keep_ratio <= 1:
        raise MMDLError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    d = depth.reshape(-1)
    if keep_ratio < 1:
        index, directions = rays.sample(keep_ratio, rng or np.random.default_rng(0))
        d = d[index].astype(np.float32) * np.float32(scale)
    else:
        directions, d = rays.directions, d.astype(np.float32) * np.float32(scale)
    valid = (d > 0) & (d <= max_depth)
    if not valid.all():
        directions, d = directions[valid], d[valid]
    out = np.empty((len(d), 4), dtype=np.float32)
    out[:, :3] = directions * d[:, None] + rays.origin
    out[:, 3] = intensity
    return out


def clouds_from_depths(depths: np.ndarray, calibs: list[KittiCalib], sizes: list[tuple[int, int]], scale: float = 1.0,
                       keep_ratio: float = 1.0, intensity: float = 0.5, max_depth: float = 80.0, seed: int = 0,
                       paths: list[Path] | None = None) -> list[np.ndarray]:
    """:func:`depth_to_points` for a sequence of frames, the rays built once per camera; each cloud
    is also written as a velodyne ``.bin`` to its entry of ``paths`` when given."""
    rng = np.random.default_rng(seed)
    rays: dict[tuple, PixelRays] = {}
    clouds = []
    for i, (depth, calib, size) in enumerate(zip(depths, calibs, sizes)):
        key = (calib.P2.tobytes(), calib.R0_rect.tobytes(), calib.Tr_velo_to_cam.tobytes(), size)
        if key not in rays:
            rays[key] = PixelRays.build(calib, size)
        cloud = depth_to_points(depth, rays[key], scale, keep_ratio, intensity, max_depth, rng)
        if paths is not None:
            write_velodyne(paths[i], cloud)
        clouds.append(cloud)
    return clouds


def image_fov_mask(points: np.ndarray, calib: KittiCalib, size: tuple[int, int]) -> np.ndarray:
    """Points in front of the camera that project inside the ``size`` (w, h) image: mmdet3d's
    ``velodyne_reduced`` for KITTI, so that real and pseudo clouds cover the same field of view."""
    uv, depth = calib.velo_to_image(points)
    return (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < size[0]) & (uv[:, 1] >= 0) & (uv[:, 1] < size[1])


def lidar_depth_pairs(predicted: np.ndarray, points: np.ndarray, calib: KittiCalib) -> tuple[np.ndarray, np.ndarray]:
    """(LiDAR depth, predicted depth at the same pixel) for the scan's points inside the image."""
    height, width = predicted.shape
    uv, depth = calib.velo_to_image(points)
    inside = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    cols, rows = uv[inside, 0].astype(int), uv[inside, 1].astype(int)
    return depth[inside], predicted[rows, cols]


def estimate_depth_scale(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The factor that brings predicted depth onto LiDAR depth: the median of the per-point ratios
    ``lidar / predicted`` over every frame's pairs (robust to the few bad pixels at object edges)."""
    ratios = [lidar / predicted for lidar, predicted in pairs if len(lidar)]
    ratios = np.concatenate(ratios) if ratios else np.zeros(0)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if not len(ratios):
        raise MMDLError("no LiDAR point falls on a pixel with a positive predicted depth: cannot estimate the scale")
    return float(np.median(ratios))


def scale_from_scans(depths: np.ndarray, frames) -> float:
    """:func:`estimate_depth_scale` over frames with ``points`` (velodyne scan) and ``calib``, one
    predicted depth map each."""
    return estimate_depth_scale([lidar_depth_pairs(d, f.points, f.calib) for d, f in zip(depths, frames)])


def write_velodyne(path: str | Path, points: np.ndarray) -> Path:
    """Write a KITTI velodyne ``.bin`` (float32 x, y, z, intensity) atomically."""
    path = Path(path)
    points = np.ascontiguousarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 4:
        raise DataFormatError(path, f"a velodyne scan is N×4 (x, y, z, intensity), got {points.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    points.tofile(partial)
    os.replace(partial, path)
    return path


def true_depth_clouds(root: str | Path, frames: list, keep_ratio: float, intensity: float, max_depth: float,
                      seed: int = 0) -> list[np.ndarray] | None:
    """Pseudo-LiDAR back-projected from the true depth maps of ``frames`` (KITTI frames: ``frame``,
    ``calib``, ``size``) in ``root/training/depth_2``, which the synthetic world writes — a perfect
    depth network's points (chapter 03); None when a frame has no map (KITTI's object release)."""
    names = [f.frame for f in frames]
    if not has_depth_maps(root, names):
        return None
    return clouds_from_depths(read_depth_maps(root, names, frames[0].size), [f.calib for f in frames],
                              [f.size for f in frames], 1.0, keep_ratio, intensity, max_depth, seed)


def perturb_object_depths(depths: np.ndarray, objects: list[list[KittiObject]], relative_sd: float,
                          seed: int = 0, classes: tuple[str, ...] = ("Car", "Pedestrian", "Cyclist")) -> np.ndarray:
    """True depth maps (N, H, W) with each object's pixels (:func:`~mmdl_lib.data.kitti.object_pixels`)
    scaled by one factor 1 + ε, ε ~ N(0, ``relative_sd``) per object: a depth network that gets every
    shape right and each object's distance wrong by a typical ``relative_sd`` (chapter 03 asks how
    large an error the detector tolerates). The objects' points move along their camera rays."""
    rng = np.random.default_rng(seed)
    out = depths.copy()
    for depth, frame_objects in zip(out, objects):
        truth = depth.copy()  # masks from the true map, whatever a nearer object's factor did
        for obj in frame_objects:
            if obj.type in classes:
                mask = object_pixels(truth, obj)
                depth[mask] = truth[mask] * max(1.0 + rng.normal(0.0, relative_sd), 0.05)
    return out
