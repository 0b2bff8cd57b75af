"""Pure-PyTorch versions of the compiled mmcv ops that chapters 03 and 04 call (``mmcv-lite`` has none).

Measured on MVX-Net and Mask2Former (``../shared/OPENMMLAB.md``), the book's models call exactly
three compiled ops, and DynamicScatter has no CPU kernel even in a compiled mmcv:

- :func:`dynamic_voxelize` — the data preprocessor's ``voxel_type='dynamic'`` (mmcv
  ``dynamic_voxelize_forward``): which voxel each point falls in;
- :func:`nms_rotated_keep` — test-time bird's-eye-view NMS (mmcv ``nms_rotated``);
- :func:`dynamic_scatter` — per-voxel mean/max of point features (mmcv ``DynamicScatter``).

They follow mmcv's kernels' conventions (coordinates as (z, y, x), -1 for a point outside the
grid, kept indices in descending score order), so :mod:`mmdl_lib.openmmlab.setup` can register
them in mmcv's place. Tests check each against a plain reference.
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
    outside = ((coords < 0) | (coords >= grid)).any(dim=1)
    coords[outside] = -1
    return coords.flip(1).contiguous()


def rotated_box_polygons(boxes: np.ndarray) -> list:
    """Shapely polygons of ``(cx, cy, w, h, angle)`` boxes (angle in radians)."""
    from shapely.geometry import Polygon

    polygons = []
    for cx, cy, w, h, angle in np.asarray(boxes, dtype=np.float64)[:, :5]:
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        polygons.append(Polygon(corners @ rotation.T + [cx, cy]))
    return polygons


def rotated_iou(a, b) -> float:
    """IoU of two shapely polygons (0 when either has no area)."""
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


def nms_rotated_keep(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                     labels: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy NMS on rotated boxes ``(cx, cy, w, h, angle)``: indices kept, highest score first.

    A box is dropped when its IoU with a kept, higher-scoring box (of the same label, when
    ``labels`` is given) is strictly above ``iou_threshold``.
    """
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    polygons = rotated_box_polygons(boxes.detach().cpu().numpy())
    label_list = labels.tolist() if labels is not None else None
    kept: list[int] = []
    for i in order:
        if all((label_list is not None and label_list[i] != label_list[j])
               or rotated_iou(polygons[i], polygons[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.long, device=boxes.device)


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
    voxel_coors, inverse = torch.unique(coors, dim=0, return_inverse=True)
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
