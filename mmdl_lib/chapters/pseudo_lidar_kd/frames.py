"""KITTI frames as mmdet3d model inputs (chapter 03), read with the book's own KITTI readers.

``label_2`` boxes are in the rectified camera frame (bottom centre, dimensions h, w, l); mmdet3d's
detectors work on LiDAR-frame ``LiDARInstance3DBoxes`` with dimensions (l, w, h). The conversion is
mmdet3d's own (``CameraInstance3DBoxes.convert_to``) with the frame's calibration, so a frame with
LiDAR points and one with pseudo-LiDAR points get the same annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...data.kitti import (KittiCalib, KittiObject, check_image_size, lidar_to_camera, lidar_to_image, read_calib,
                           read_label, read_velodyne)
from ...data.validation import open_image, read_text, unique
from ...errors import DataFormatError, MMDLError
from ...synth import ensure_synthetic
from .pseudo_lidar import image_fov_mask

KITTI_CLASSES = ("Pedestrian", "Cyclist", "Car")  # mmdet3d's 3-class order
READS = ("load_frame", "load_split")


def lidar_boxes(objects: list[KittiObject], calib: KittiCalib, classes: tuple[str, ...] = KITTI_CLASSES):
    """The objects of ``classes`` as ``LiDARInstance3DBoxes`` and their label indices."""
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes

    kept = [o for o in objects if o.type in classes]
    camera = np.array([[*o.location, o.dimensions[2], o.dimensions[0], o.dimensions[1], o.rotation_y] for o in kept],
                      dtype=np.float32).reshape(-1, 7)  # x, y, z, l, h, w, yaw
    boxes = CameraInstance3DBoxes(camera).convert_to(Box3DMode.LIDAR, np.linalg.inv(lidar_to_camera(calib)))
    return boxes, torch.tensor([classes.index(o.type) for o in kept], dtype=torch.long)


@dataclass
class KittiFrame:
    """One ``training/`` frame in memory: image (H, W, 3) uint8, calibration, labels, velodyne scan."""

    frame: str
    image: np.ndarray
    calib: KittiCalib
    objects: list[KittiObject]
    points: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def points_in_view(self) -> np.ndarray:
        """The scan's points inside the camera image (mmdet3d's ``velodyne_reduced`` for KITTI)."""

        return self.points[image_fov_mask(self.points, self.calib, self.size)]


def frame_images(frames: list[KittiFrame]) -> torch.Tensor:
    """The frames' images as one uint8 (N, 3, H, W) tensor (they share a size)."""
    return torch.stack([torch.from_numpy(f.image.copy()).permute(2, 0, 1) for f in frames])


def load_frame(root: str | Path, frame: str, part: str = "training") -> KittiFrame:
    """Read one frame with the book's validating readers (the image's size checked against its
    calibration, the labels against the image)."""
    folder = Path(root) / part
    image_path, calib_path = folder / "image_2" / f"{frame}.png", folder / "calib" / f"{frame}.txt"
    image = np.asarray(open_image(image_path).convert("RGB"))
    size = (image.shape[1], image.shape[0])
    calib = read_calib(calib_path)
    check_image_size(calib, size, image_path, calib_path)
    label = folder / "label_2" / f"{frame}.txt"
    objects = read_label(label, size) if part == "training" else []
    return KittiFrame(frame, image, calib, objects, read_velodyne(folder / "velodyne" / f"{frame}.bin"))


def other_camera_frame(seed: int, reference: KittiFrame, image_scale: float) -> tuple[KittiFrame, float]:
    """A frame from another camera (the synthetic world's ``tiny`` KITTI set: its own focal length,
    image size and calibration) and the image scale that gives a detector trained on ``reference``'s
    frames at ``image_scale`` the image height it was trained on (chapter 03)."""

    frame = load_frame(ensure_synthetic("kitti", "tiny", seed), "000000")
    return frame, image_scale * reference.image.shape[0] / frame.image.shape[0]


def load_split(root: str | Path, split: str, max_frames: int | None = None) -> list[KittiFrame]:
    """The frames of ``ImageSets/<split>.txt`` (an empty or missing split is an error naming the file),
    the first ``max_frames`` of them when given."""
    path = Path(root) / "ImageSets" / f"{split}.txt"
    ids = read_text(path, "KITTI split file").split()
    if not ids:
        raise DataFormatError(path, "the split lists no frame")
    unique(ids, path, "frame id")
    for frame in ids[:max_frames]:
        image = Path(root) / "training" / "image_2" / f"{frame}.png"
        if not image.is_file():
            raise DataFormatError(path, f"lists frame {frame!r}, but {image} is not there", "frame id")
    return [load_frame(root, frame) for frame in ids[:max_frames]]


def in_range(boxes, point_range: tuple[float, ...] | None) -> torch.Tensor:
    """Which LiDAR boxes have their centre inside ``point_range`` (mmdet3d's ``ObjectRangeFilter``, BEV)."""
    if point_range is None:
        return torch.ones(len(boxes), dtype=torch.bool)
    return boxes.in_range_bev([point_range[0], point_range[1], point_range[3], point_range[4]])


# mmdet3d's dynamic voxel encoder fails on a cloud with no point in range (mmcv's scatter) and its
# batch norm on one point: below this a frame has nothing a detector can read.
MIN_POINTS = 2


def points_in_range(points: np.ndarray, point_range: tuple[float, ...] | None) -> int:
    """How many of (N, ≥3) ``points`` lie inside ``point_range`` (x0, y0, z0, x1, y1, z1)."""
    if point_range is None:
        return len(points)
    low, high = np.asarray(point_range[:3]), np.asarray(point_range[3:])
    return int(np.all((points[:, :3] >= low) & (points[:, :3] < high), axis=1).sum())


def has_points(sample: dict) -> bool:
    """Whether a sample's cloud has enough points in the detector's range to run on."""
    return sample["data_sample"].metainfo["points_in_range"] >= MIN_POINTS


def detector_sample(frame: KittiFrame, points: np.ndarray, source: str, classes: tuple[str, ...] = KITTI_CLASSES,
                    image_scale: float = 1.0, point_range: tuple[float, ...] | None = None) -> dict:
    """One frame as a detector sample: ``{"points": (N, 4), "img": (3, h, w) uint8, "data_sample"}``.

    ``points`` is the cloud of this ``source`` ("lidar", "pseudo-lidar", …); the annotations are the
    frame's ``label_2`` objects of ``classes`` whose centre lies in ``point_range``, whichever the
    source, converted with the frame's calibration. ``image_scale`` resizes the image and scales
    ``lidar2img`` with it. The sample records how many labelled objects it should carry, and
    :func:`collate_samples` refuses a batch that lost them (the seed's silent ``detection_loss = 0``).
    """
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData

    image = torch.from_numpy(frame.image.copy()).permute(2, 0, 1)
    lidar2img = lidar_to_image(frame.calib)
    if image_scale != 1.0:
        size = (int(round(frame.image.shape[0] * image_scale)), int(round(frame.image.shape[1] * image_scale)))
        image = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]
        image = image.round().clamp(0, 255).to(torch.uint8)
        lidar2img = np.diag([image.shape[2] / frame.image.shape[1], image.shape[1] / frame.image.shape[0], 1, 1]) @ lidar2img
    boxes, labels = lidar_boxes(frame.objects, frame.calib, classes)
    keep = in_range(boxes, point_range)
    sample = Det3DDataSample(metainfo={"lidar2img": lidar2img, "img_shape": tuple(image.shape[1:]),
                                       "ori_shape": tuple(image.shape[1:]), "box_type_3d": LiDARInstance3DBoxes,
                                       "sample_idx": frame.frame, "source": source,
                                       "num_labelled": int(keep.sum()),
                                       "points_in_range": points_in_range(points, point_range)})
    sample.gt_instances_3d = InstanceData(bboxes_3d=boxes[keep], labels_3d=labels[keep])
    return {"points": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)), "img": image,
            "data_sample": sample}


def collate_samples(samples: list[dict]) -> dict:
    """Samples → the data-preprocessor input ``{"inputs": {"points", "img"}, "data_samples"}``.

    Raises when a frame whose labels hold objects in range carries no ground-truth box: training on
    it would give a detection loss of exactly zero for the objects it should learn; and when a
    frame's cloud has (almost) no point in range, which the detector cannot run on.
    """
    for s in samples:
        meta, gt = s["data_sample"].metainfo, s["data_sample"].gt_instances_3d
        if not has_points(s):
            raise MMDLError(f"frame {meta['sample_idx']} ({meta['source']} points): {meta['points_in_range']} points "
                            f"inside the point range, a detector needs {MIN_POINTS} — for pseudo-LiDAR check the depth "
                            "scale and the calibration")
        if meta["num_labelled"] > 0 and len(gt) == 0:
            raise MMDLError(f"frame {meta['sample_idx']} ({meta['source']} points): label_2 lists "
                            f"{meta['num_labelled']} objects in range but the sample carries no ground-truth box — "
                            "its detection loss would be a silent 0. Build every point source's annotations from "
                            "the same labels (detector_sample).")
    return {"inputs": {"points": [s["points"] for s in samples], "img": [s["img"] for s in samples]},
            "data_samples": [s["data_sample"] for s in samples]}


def require_ground_truth(samples: list[dict], what: str) -> None:
    """A training set whose frames carry no ground-truth box at all cannot teach a detector."""
    if not any(len(s["data_sample"].gt_instances_3d) for s in samples):
        raise MMDLError(f"{what}: none of its {len(samples)} frames carries a ground-truth box of the detector's "
                        "classes inside the point range — check the labels, the classes and point_cloud_range")


def frame_inputs(root: str | Path, frame: str, points: np.ndarray | None = None,
                 classes: tuple[str, ...] = KITTI_CLASSES) -> dict:
    """One ``training/`` frame as the data-preprocessor input of an image + points detector.

    ``points`` replaces the velodyne scan (pseudo-LiDAR); the labels are the frame's either way.
    """
    loaded = load_frame(root, frame)
    source = "lidar" if points is None else "pseudo-lidar"
    return collate_samples([detector_sample(loaded, loaded.points if points is None else points, source, classes)])
