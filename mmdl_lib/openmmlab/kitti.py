"""KITTI frames as mmdet3d model inputs (chapter 03), read with the book's own KITTI readers.

``label_2`` boxes are in the rectified camera frame (bottom centre, dimensions h, w, l); mmdet3d's
detectors work on LiDAR-frame ``LiDARInstance3DBoxes`` with dimensions (l, w, h). The conversion is
mmdet3d's own (``CameraInstance3DBoxes.convert_to``) with the frame's calibration, so a frame with
LiDAR points and one with pseudo-LiDAR points get the same annotations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ..data.kitti import KittiCalib, KittiObject, read_calib, read_label, read_velodyne
from ..data.validation import open_image

KITTI_CLASSES = ("Pedestrian", "Cyclist", "Car")  # mmdet3d's 3-class order


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


def lidar_boxes(objects: list[KittiObject], calib: KittiCalib, classes: tuple[str, ...] = KITTI_CLASSES):
    """The objects of ``classes`` as ``LiDARInstance3DBoxes`` and their label indices."""
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes

    kept = [o for o in objects if o.type in classes]
    camera = np.array([[*o.location, o.dimensions[2], o.dimensions[0], o.dimensions[1], o.rotation_y] for o in kept],
                      dtype=np.float32).reshape(-1, 7)  # x, y, z, l, h, w, yaw
    boxes = CameraInstance3DBoxes(camera).convert_to(Box3DMode.LIDAR, np.linalg.inv(lidar_to_camera(calib)))
    return boxes, torch.tensor([classes.index(o.type) for o in kept], dtype=torch.long)


def frame_inputs(root: str | Path, frame: str, points: np.ndarray | None = None,
                 classes: tuple[str, ...] = KITTI_CLASSES) -> dict:
    """One ``training/`` frame as the data-preprocessor input of an image + points detector.

    ``points`` replaces the velodyne scan (pseudo-LiDAR); the labels are the frame's either way.
    Returns ``{"inputs": {"points": [...], "img": [...]}, "data_samples": [Det3DDataSample]}``.
    """
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData

    root = Path(root) / "training"
    calib = read_calib(root / "calib" / f"{frame}.txt")
    cloud = read_velodyne(root / "velodyne" / f"{frame}.bin") if points is None else points
    image = np.asarray(open_image(root / "image_2" / f"{frame}.png").convert("RGB"))
    sample = Det3DDataSample(metainfo={"lidar2img": lidar_to_image(calib), "img_shape": image.shape[:2],
                                       "ori_shape": image.shape[:2], "box_type_3d": LiDARInstance3DBoxes,
                                       "sample_idx": frame})
    boxes, labels = lidar_boxes(read_label(root / "label_2" / f"{frame}.txt"), calib, classes)
    sample.gt_instances_3d = InstanceData(bboxes_3d=boxes, labels_3d=labels)
    return {"inputs": {"points": [torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32))],
                       "img": [torch.from_numpy(image.copy()).permute(2, 0, 1)]},
            "data_samples": [sample]}
