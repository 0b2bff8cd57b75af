"""KITTI object readers: calibration, ``label_2`` lines and velodyne scans (chapters 00 and 03)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

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
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "calibration file not found")
    values: dict[str, np.ndarray] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, _, rest = line.partition(":")
        try:
            values[key.strip()] = np.array([float(v) for v in rest.split()])
        except ValueError:
            raise DataFormatError(path, f"line {n}: expected numbers", key.strip()) from None
    matrices = {}
    for key in ("P2", "R0_rect", "Tr_velo_to_cam"):
        if key not in values:
            raise DataFormatError(path, "missing calibration matrix", key)
        shape = CALIB_SHAPES[key]
        if values[key].size != shape[0] * shape[1]:
            raise DataFormatError(path, f"expected {shape[0] * shape[1]} numbers, got {values[key].size}", key)
        matrices[key] = values[key].reshape(shape)
    return KittiCalib(**matrices)


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


def read_label(path: str | Path) -> list[KittiObject]:
    """Read ``label_2`` (15 columns) or a result file (16 columns, the last one the score)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "label file not found")
    objects = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        cols = line.split()
        if not cols:
            continue
        if len(cols) not in (15, 16):
            raise DataFormatError(path, f"line {n}: expected 15 or 16 columns, got {len(cols)}")
        try:
            v = [float(c) for c in cols[1:]]
        except ValueError:
            raise DataFormatError(path, f"line {n}: non-numeric value", "columns 2-16") from None
        objects.append(KittiObject(cols[0], v[0], int(v[1]), v[2], np.array(v[3:7]), np.array(v[7:10]),
                                   np.array(v[10:13]), v[13], v[14] if len(v) == 15 else None))
    return objects


def read_velodyne(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "velodyne scan not found")
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise DataFormatError(path, f"size {data.size} floats is not a multiple of 4 (x, y, z, reflectance)")
    return data.reshape(-1, 4)


def read_depth(path: str | Path) -> np.ndarray:
    """A depth map in KITTI depth-completion encoding (uint16 PNG, metres × 256, 0 = none)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "depth map not found")
    return np.asarray(Image.open(path), dtype=np.float32) / 256.0
