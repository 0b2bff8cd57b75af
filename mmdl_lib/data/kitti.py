"""KITTI object readers: calibration, ``label_2`` lines and velodyne scans (chapters 00 and 03)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .validation import finite_numbers, in_range, one_of, open_image, read_text

READS = ("read_calib", "read_label", "read_velodyne", "read_depth", "read_depth_maps")

CALIB_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3),
                "Tr_velo_to_cam": (3, 4), "Tr_imu_to_velo": (3, 4)}


@dataclass
class KittiCalib:
    P2: np.ndarray
    R0_rect: np.ndarray
    Tr_velo_to_cam: np.ndarray

    def velo_to_image(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``P2 · R0_rect · Tr_velo_to_cam · X``: pixel (u, v) and depth of LiDAR points."""
        homo = np.hstack([points[:, :3], np.ones((len(points), 1))])
        rect = self.R0_rect @ (self.Tr_velo_to_cam @ homo.T)
        proj = self.P2 @ np.vstack([rect, np.ones((1, rect.shape[1]))])
        return (proj[:2] / proj[2]).T, proj[2]


def read_calib(path: str | Path) -> KittiCalib:
    """``calib/NNNNNN.txt``: P2, R0_rect and Tr_velo_to_cam, every entry a finite number."""
    path = Path(path)
    values: dict[str, np.ndarray] = {}
    for n, line in enumerate(read_text(path, "calibration file").splitlines(), 1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            raise DataFormatError(path, f"line {n}: expected 'NAME: numbers'", key.strip()[:20])
        try:
            numbers = [float(v) for v in rest.split()]
        except ValueError:
            raise DataFormatError(path, f"line {n}: expected numbers", key.strip()) from None
        if key.strip() in values:
            raise DataFormatError(path, f"line {n}: {key.strip()} appears twice", key.strip())
        values[key.strip()] = np.array(finite_numbers(numbers, path, key.strip()))
    matrices = {}
    for key in ("P2", "R0_rect", "Tr_velo_to_cam"):
        if key not in values:
            raise DataFormatError(path, "missing calibration matrix", key)
        shape = CALIB_SHAPES[key]
        if values[key].size != shape[0] * shape[1]:
            raise DataFormatError(path, f"expected {shape[0] * shape[1]} numbers, got {values[key].size}", key)
        matrices[key] = values[key].reshape(shape)
    if abs(np.linalg.det(matrices["R0_rect"])) < 1e-6:
        raise DataFormatError(path, "R0_rect is singular (not a rotation)", "R0_rect")
    return KittiCalib(**matrices)


PRINCIPAL_POINT_TOLERANCE = 0.15  # KITTI's principal points lie within 4 % of the image centre


def check_image_size(calib: KittiCalib, size: tuple[int, int], image: str | Path, calib_path: str | Path) -> None:
    """The camera's image size the calibration implies: P2's principal point lies near the image's
    centre (within :data:`PRINCIPAL_POINT_TOLERANCE` of its width and height). An image of another
    size (a resized frame, against which every projection would be wrong) is an error naming both files."""
    cx, cy = calib.P2[0, 2], calib.P2[1, 2]
    width, height = size
    if (abs(cx - width / 2) > PRINCIPAL_POINT_TOLERANCE * width
            or abs(cy - height / 2) > PRINCIPAL_POINT_TOLERANCE * height):
        raise DataFormatError(image, f"image is {width}×{height}, but the principal point ({cx:.1f}, {cy:.1f}) of "
                                     f"{Path(calib_path).name}'s P2 implies an image of about "
                                     f"{2 * cx:.0f}×{2 * cy:.0f} (resized?)", "image size")


@dataclass
class KittiObject:
    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: np.ndarray  # left, top, right, bottom
    dimensions: np.ndarray  # h, w, l
    location: np.ndarray  # x, y, z (bottom centre, camera frame)
    rotation_y: float
    score: float | None = None


KITTI_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")


def read_label(path: str | Path, image_size: tuple[int, int] | None = None) -> list[KittiObject]:
    """Read ``label_2`` (15 columns) or a result file (16 columns, the last one the score).

    Every value is checked as the devkit's readme defines it: a known type, truncation in [0, 1],
    occlusion 0–3 (an integer), alpha and rotation_y in [−π, π], a 2D box with left < right and
    top < bottom (inside ``image_size`` (w, h) when given, up to a pixel) and positive dimensions.
    ``DontCare`` regions carry −1 placeholders for the 3D fields and are checked in 2D only.
    """
    path = Path(path)
    objects = []
    for n, line in enumerate(read_text(path, "label file").splitlines(), 1):
        cols = line.split()
        if not cols:
            continue
        if len(cols) not in (15, 16):
            raise DataFormatError(path, f"line {n}: expected 15 or 16 columns, got {len(cols)}")
        one_of(cols[0], KITTI_TYPES, path, f"line {n}: type")
        try:
            v = [float(c) for c in cols[1:]]
        except ValueError:
            raise DataFormatError(path, f"line {n}: non-numeric value", "columns 2-16") from None
        finite_numbers(v, path, f"line {n}")
        left, top, right, bottom = v[3:7]
        if not (left < right and top < bottom):
            raise DataFormatError(path, f"line {n}: 2D box {v[3:7]} needs left < right and top < bottom", "bbox")
        if image_size is not None and (left < -1 or top < -1 or right > image_size[0] + 1
                                       or bottom > image_size[1] + 1):
            raise DataFormatError(path, f"line {n}: 2D box {v[3:7]} lies outside the "
                                        f"{image_size[0]}×{image_size[1]} image", "bbox")
        if cols[0] != "DontCare":
            in_range(v[0], 0.0, 1.0, path, f"line {n}: truncated")
            if v[1] not in (0, 1, 2, 3):
                raise DataFormatError(path, f"line {n}: occluded must be 0, 1, 2 or 3, got {v[1]}", "occluded")
            in_range(v[2], -math.pi - 1e-3, math.pi + 1e-3, path, f"line {n}: alpha")
            in_range(v[13], -math.pi - 1e-3, math.pi + 1e-3, path, f"line {n}: rotation_y")
            if min(v[7:10]) <= 0:
                raise DataFormatError(path, f"line {n}: dimensions {v[7:10]} must be positive", "dimensions")
        objects.append(KittiObject(cols[0], v[0], int(v[1]), v[2], np.array(v[3:7]), np.array(v[7:10]),
                                   np.array(v[10:13]), v[13], v[14] if len(v) == 15 else None))
    return objects


def read_velodyne(path: str | Path) -> np.ndarray:
    """A velodyne scan: float32 (x, y, z, reflectance) rows, so 16 bytes a point, at least one, all finite."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "velodyne scan not found" if not path.exists() else "velodyne scan is not a file")
    size = path.stat().st_size
    if size == 0 or size % 16:
        raise DataFormatError(path, f"{size} bytes: a scan is a non-empty multiple of 16 bytes "
                                    "(float32 x, y, z, reflectance)")
    try:
        data = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    except OSError as e:  # e.g. no permission to read
        raise DataFormatError(path, f"cannot read the scan ({e.strerror or e})") from None
    if not np.isfinite(data).all():
        row = int(np.flatnonzero(~np.isfinite(data).all(axis=1))[0])
        raise DataFormatError(path, f"point {row} is not finite: {data[row].tolist()}", f"point {row}")
    return data


def read_depth(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A depth map in KITTI depth-completion encoding (16-bit single-channel PNG, metres × 256, 0 = none)."""
    image = open_image(path, size=size, modes=("I;16", "I;16B", "I"))
    depth = np.asarray(image)
    if depth.dtype != np.uint16 and (depth.min() < 0 or depth.max() > 65535):
        raise DataFormatError(path, f"values {depth.min()}–{depth.max()} do not fit 16 bits")
    return depth.astype(np.float32) / 256.0


def has_depth_maps(root: str | Path, frames: list[str]) -> bool:
    """Whether every frame has a ``training/depth_2`` map (the synthetic world writes them; KITTI's
    object release has none)."""
    return all((Path(root) / "training" / "depth_2" / f"{frame}.png").is_file() for frame in frames)


def read_depth_maps(root: str | Path, frames: list[str], size: tuple[int, int] | None = None) -> np.ndarray:
    """``training/depth_2`` maps of ``frames`` stacked (N, H, W) in metres, each checked to be ``size`` (w, h)."""
    return np.stack([read_depth(Path(root) / "training" / "depth_2" / f"{frame}.png", size) for frame in frames])


def object_pixels(depth: np.ndarray, obj: KittiObject) -> np.ndarray:
    """Mask (H, W) of the pixels of ``obj`` in the true ``depth`` map (H, W): inside its 2D box and
    at a depth its 3D box can have — its bottom-centre ``z`` ± half its footprint's diagonal and half
    a metre — so the road and the buildings seen past its box edges are left out (chapter 03)."""
    height, width = depth.shape
    left, top, right, bottom = obj.bbox
    rows = slice(max(0, int(np.floor(top))), min(height, int(np.ceil(bottom)) + 1))
    cols = slice(max(0, int(np.floor(left))), min(width, int(np.ceil(right)) + 1))
    reach = float(np.hypot(obj.dimensions[1], obj.dimensions[2])) / 2 + 0.5
    mask = np.zeros(depth.shape, dtype=bool)
    window = depth[rows, cols]
    mask[rows, cols] = (window > 0) & (np.abs(window - obj.location[2]) <= reach)
    return mask


def homogeneous(matrix: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[: matrix.shape[0], : matrix.shape[1]] = matrix
    return out


def lidar_to_camera(calib: KittiCalib) -> np.ndarray:
    """4×4 ``R0_rect · Tr_velo_to_cam``: LiDAR frame → rectified camera frame."""
    return homogeneous(calib.R0_rect) @ homogeneous(calib.Tr_velo_to_cam)


def lidar_to_image(calib: KittiCalib) -> np.ndarray:
    """4×4 ``P2 · R0_rect · Tr_velo_to_cam``: what mmdet3d calls ``lidar2img``."""
    return homogeneous(calib.P2) @ lidar_to_camera(calib)
