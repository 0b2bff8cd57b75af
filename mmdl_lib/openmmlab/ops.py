"""Pure-PyTorch versions of the compiled mmcv ops that chapters 03 and 04 call (``mmcv-lite`` has none).

Measured on MVX-Net and Mask2Former (``../shared/OPENMMLAB.md``), the book's models call exactly
three compiled ops, and DynamicScatter has no CPU kernel even in a compiled mmcv:

- :func:`dynamic_voxelize` — the data preprocessor's ``voxel_type='dynamic'`` (mmcv
  ``dynamic_voxelize_forward``): which voxel each point falls in;
- :func:`nms_rotated_keep` — test-time bird's-eye-view NMS (mmcv ``nms_rotated``);
- :func:`dynamic_scatter` — per-voxel mean/max of point features (mmcv ``DynamicScatter``).

They follow mmcv's kernels' conventions (coordinates as (z, y, x), -1 for a point outside the
grid, kept indices in descending score order), so :mod:`mmdl_lib.openmmlab.setup` can register
them in mmcv's place. None has a device-dependent branch: CPU and CUDA tensors run the same code,
and every tensor is made on the input's device (rotated NMS computes its polygon IoUs with shapely,
on the host, and returns the kept indices on the boxes' device). Tests check each against a plain
reference.
"""

from __future__ import annotations

import numpy as np
import torch


def dynamic_voxelize(points: torch.Tensor, voxel_size: torch.Tensor, coors_range: torch.Tensor) -> torch.Tensor:
    """(N, 3) int voxel coordinates ``(z, y, x)`` of each point; a point outside the range gets -1s.

    ``voxel_size`` is (3,), ``coors_range`` (6,) = (x_min, y_min, z_min, x_max, y_max, z_max).
    """
    voxel_size = voxel_size.to(points.device, torch.float32)
    low, high = coors_range[:3].to(points.device, torch.float32), coors_range[3:].to(points.device, torch.float32)
    grid = torch.round((high - low) / voxel_size).int()
    coords = torch.floor((points[:, :3].float() - low) / voxel_size).int()
    outside = ((coords < 0) | (coords >= grid)).any(dim=1, keepdim=True)
    return torch.where(outside, -1, coords).flip(1).contiguous()


def nms_rotated_keep(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                     labels: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy NMS on rotated boxes ``(cx, cy, w, h, angle)``: indices kept, highest score first.

    A box is dropped when its IoU with a kept, higher-scoring box (of the same label, when
    ``labels`` is given) is strictly above ``iou_threshold``. The IoUs come in one vectorised
    call (:func:`rotated_overlaps`); only the greedy pass is a Python loop.
    """
    order = torch.argsort(scores, descending=True, stable=True).cpu().numpy()
    array = boxes.detach().cpu().numpy()[order, :5]
    overlaps = rotated_overlaps(array, array)
    if labels is not None:
        label_array = labels.detach().cpu().numpy()[order]
        overlaps[label_array[:, None] != label_array[None, :]] = 0.0
    suppressed = np.zeros(len(order), dtype=bool)
    kept: list[int] = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        kept.append(int(order[rank]))
        suppressed |= overlaps[rank] > iou_threshold
    return torch.tensor(kept, dtype=torch.long, device=boxes.device)


def unique_rows(coors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(coors, dim=0, return_inverse=True)`` for non-negative integer rows, through one
    int64 key per row (mixed radix, so the order stays lexicographic): a 1-D unique is ~10× faster."""
    if len(coors) == 0:
        return coors.clone(), torch.zeros(0, dtype=torch.long, device=coors.device)
    bases = (coors.max(dim=0).values.long() + 1).tolist()
    key = torch.zeros(len(coors), dtype=torch.long, device=coors.device)
    for column, base in enumerate(bases):
        key = key * base + coors[:, column].long()
    keys, inverse = torch.unique(key, return_inverse=True)
    rows = []
    for base in reversed(bases):
        rows.append(keys % base)
        keys = keys // base
    return torch.stack(rows[::-1], dim=1).to(coors.dtype), inverse


def dynamic_scatter(feats: torch.Tensor, coors: torch.Tensor, reduce: str = "max") -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce the features of the points that share a voxel: ``(voxel_feats (M, C), voxel_coors (M, D))``.

    Points with any negative coordinate (outside the grid) are dropped, as mmcv does; voxels come
    in lexicographic order of their coordinates. ``reduce`` is ``"max"``, ``"mean"`` or ``"sum"``.
    Differentiable through PyTorch's own autograd.
    """
    if reduce not in ("max", "mean", "sum"):
        raise ValueError(f"reduce must be 'max', 'mean' or 'sum', got {reduce!r}")
    inside = (coors >= 0).all(dim=1)
    feats, coors = feats[inside], coors[inside]
    voxel_coors, inverse = unique_rows(coors)
    index = inverse[:, None].expand_as(feats)
    out = feats.new_zeros(len(voxel_coors), feats.shape[1])
    if reduce == "max":
        out = out.scatter_reduce(0, index, feats, "amax", include_self=False)
    else:
        out = out.scatter_add(0, index, feats)
        if reduce == "mean":
            counts = torch.bincount(inverse, minlength=len(voxel_coors)).clamp(min=1)
            out = out / counts[:, None].to(feats.dtype)
    return out, voxel_coors.to(coors.dtype)


def rotated_overlaps(boxes: np.ndarray, query_boxes: np.ndarray, criterion: int = -1) -> np.ndarray:
    """(N, K) overlaps of rotated boxes ``(cx, cy, length, width, angle)`` — the contract of mmdet3d's
    ``rotate_iou_gpu_eval`` (KITTI evaluation), on the CPU with shapely's vectorised geometry.

    ``criterion`` −1: IoU; 0: intersection / area of ``boxes``; 1: / area of ``query_boxes``;
    2: the intersection area itself. The angle's sign convention does not matter as long as both
    sets share it (mirroring the plane keeps every area).
    """
    import shapely

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    query_boxes = np.asarray(query_boxes, dtype=np.float64).reshape(-1, 5)
    out = np.zeros((len(boxes), len(query_boxes)), dtype=np.float32)
    if not len(boxes) or not len(query_boxes):
        return out
    a, b = _polygons(boxes), _polygons(query_boxes)
    # only pairs whose circumscribed circles meet can overlap
    radius_a, radius_b = np.hypot(boxes[:, 2], boxes[:, 3]) / 2, np.hypot(query_boxes[:, 2], query_boxes[:, 3]) / 2
    gap = np.hypot(boxes[:, None, 0] - query_boxes[None, :, 0], boxes[:, None, 1] - query_boxes[None, :, 1])
    rows, cols = np.nonzero(gap < radius_a[:, None] + radius_b[None, :])
    if not len(rows):
        return out
    inter = shapely.area(shapely.intersection(a[rows], b[cols]))
    area_a, area_b = boxes[rows, 2] * boxes[rows, 3], query_boxes[cols, 2] * query_boxes[cols, 3]
    denominator = {-1: area_a + area_b - inter, 0: area_a, 1: area_b, 2: np.ones_like(inter)}[criterion]
    out[rows, cols] = np.where(denominator > 0, inter / np.maximum(denominator, 1e-12), 0.0)
    return out


def _polygons(boxes: np.ndarray) -> np.ndarray:
    import shapely

    cx, cy, length, width, angle = boxes.T
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) / 2
    local = corners[None] * np.stack([length, width], axis=1)[:, None, :]  # (N, 4, 2)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = local[..., 0] * cos - local[..., 1] * sin + cx[:, None]
    y = local[..., 0] * sin + local[..., 1] * cos + cy[:, None]
    return shapely.polygons(np.stack([x, y], axis=-1))
