"""The pure-PyTorch stand-ins for mmcv's compiled ops, each against a plain reference."""

import math

import numpy as np
import pytest
import torch

from mmdl_lib.openmmlab.ops import dynamic_scatter, dynamic_voxelize, nms_rotated_keep


def test_voxel_coordinates_match_a_plain_loop_including_points_outside_the_range():
    rng = np.random.default_rng(0)
    points = rng.uniform([-5, -45, -4, 0], [75, 45, 2, 1], size=(2000, 4)).astype(np.float32)
    voxel, low, high = np.array([0.4, 0.5, 0.25]), np.array([0, -40, -3.0]), np.array([70.4, 40, 1.0])
    grid = np.round((high - low) / voxel).astype(int)
    expected = np.full((len(points), 3), -1)
    for i, p in enumerate(points):
        c = np.floor((p[:3] - low) / voxel).astype(int)
        if all(0 <= c[d] < grid[d] for d in range(3)):
            expected[i] = c[::-1]  # (z, y, x)
    got = dynamic_voxelize(torch.from_numpy(points), torch.tensor(voxel), torch.tensor([*low, *high]))
    assert (expected == -1).all(axis=1).sum() > 100  # the case of points outside is exercised
    np.testing.assert_array_equal(got.numpy(), expected)


def test_rotated_nms_suppresses_by_polygon_iou_computed_by_hand():
    # a 4×2 box and the same box turned 90°: overlap 2×2 = 4, union 8 + 8 − 4 = 12, IoU 1/3
    boxes = torch.tensor([[0, 0, 4, 2, 0], [0, 0, 4, 2, math.pi / 2], [10, 10, 2, 2, 0.3], [0.5, 0, 4, 2, 0.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (shifted by 0.5) overlaps box 0 with IoU 3.5·2 / (16 − 7) = 7/9 and outranks it
    assert nms_rotated_keep(boxes, scores, 0.5).tolist() == [3, 1, 2]
    assert nms_rotated_keep(boxes, scores, 0.3).tolist() == [3, 2]  # box 1: IoU with box 3 = 2·2/(16−4) = 1/3
    assert nms_rotated_keep(boxes, scores, 0.8).tolist() == [3, 0, 1, 2]
    labels = torch.tensor([0, 1, 0, 1])  # per-label NMS: boxes 0 and 3 no longer compete
    assert nms_rotated_keep(boxes, scores, 0.3, labels).tolist() == [3, 0, 2]


def test_rotated_nms_matches_brute_force_on_random_boxes():
    from shapely.geometry import Polygon

    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(0, 10, (60, 2)), rng.uniform(1, 4, (60, 2)), rng.uniform(-3, 3, 60)])
    scores = rng.uniform(size=60)

    def polygon(b):
        cx, cy, w, h, a = b
        corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
        return Polygon([(cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a))
                        for x, y in corners])

    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if all(polygon(boxes[i]).intersection(polygon(boxes[j])).area
               / polygon(boxes[i]).union(polygon(boxes[j])).area <= 0.2 for j in kept):
            kept.append(int(i))
    assert nms_rotated_keep(torch.tensor(boxes), torch.tensor(scores), 0.2).tolist() == kept
    assert 5 < len(kept) < 60


@pytest.mark.parametrize("reduce", ["max", "mean", "sum"])
def test_scatter_matches_a_python_loop_and_drops_points_outside(reduce):
    torch.manual_seed(0)
    coors = torch.randint(0, 4, (300, 3), dtype=torch.int32)
    coors[::17] = -1
    feats = torch.randn(300, 5)
    voxel_feats, voxel_coors = dynamic_scatter(feats, coors, reduce)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(coors.tolist()):
        if min(c) >= 0:
            groups.setdefault(tuple(c), []).append(i)
    assert voxel_coors.tolist() == [list(k) for k in sorted(groups)]
    op = {"max": lambda x: x.max(dim=0).values, "mean": lambda x: x.mean(dim=0), "sum": lambda x: x.sum(dim=0)}[reduce]
    expected = torch.stack([op(feats[groups[k]]) for k in sorted(groups)])
    assert torch.allclose(voxel_feats, expected, atol=1e-6)


def test_scatter_mean_passes_gradients_as_one_over_the_count():
    feats = torch.ones(5, 2, requires_grad=True)
    coors = torch.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 1], [-1, 0, 0], [0, 0, 1]], dtype=torch.int32)
    voxel_feats, _ = dynamic_scatter(feats, coors, "mean")
    voxel_feats.sum().backward()
    assert feats.grad[:, 0].tolist() == [0.5, 0.5, 0.5, 0.0, 0.5]


def test_unique_rows_matches_torch_unique_over_rows():
    from mmdl_lib.openmmlab.ops import unique_rows

    coors = torch.randint(0, 7, (500, 4), dtype=torch.int32)
    rows, inverse = unique_rows(coors)
    expected_rows, expected_inverse = torch.unique(coors, dim=0, return_inverse=True)
    assert torch.equal(rows, expected_rows) and torch.equal(inverse, expected_inverse)
    assert rows.dtype == coors.dtype


def test_rotated_overlaps_by_hand():
    """Two 4×2 boxes crossed at 90° share a 2×2 square: IoU 4 / (8 + 8 − 4); criterion 2 is the area."""
    from mmdl_lib.openmmlab.ops import rotated_overlaps

    a = np.array([[0, 0, 4, 2, 0.0], [1, 0, 4, 2, 0.0]])
    b = np.array([[0, 0, 4, 2, math.pi / 2], [50, 50, 1, 1, 0.0]])
    iou = rotated_overlaps(a, b)
    assert iou[0, 0] == pytest.approx(1 / 3, abs=1e-5) and iou[0, 1] == 0 and iou[1, 1] == 0
    assert rotated_overlaps(a, b, 2)[0, 0] == pytest.approx(4.0, abs=1e-4)
    assert rotated_overlaps(a, b, 0)[0, 0] == pytest.approx(0.5, abs=1e-5)
    assert rotated_overlaps(a[:1], a[1:])[0, 0] == pytest.approx(6 / 10, abs=1e-5)  # shifted by 1 m along 4 m
    assert rotated_overlaps(np.zeros((0, 5)), b).shape == (0, 2)


class OnCuda(torch.Tensor):
    """A CPU tensor that reports ``is_cuda``: whatever branches on the device takes the CUDA path,
    while the values stay checkable here (no GPU)."""

    @property
    def is_cuda(self) -> bool:
        return True


def test_the_stand_ins_have_no_device_dependent_branch():
    import inspect

    from mmdl_lib.openmmlab import ops

    source = inspect.getsource(ops)
    for branch in ("is_cuda", "device.type", "torch.cuda"):
        assert branch not in source, branch


def test_voxel_coordinates_are_made_on_the_points_device():
    """On the meta device (no values) the stand-in keeps the input's device, shape and dtype, with the
    grid's tensors on another device, as mmcv passes them (CPU tensors beside CUDA points)."""
    points = torch.empty(1000, 4, device="meta")
    got = dynamic_voxelize(points, torch.tensor([0.4, 0.5, 0.25]), torch.tensor([0, -40, -3, 70.4, 40, 1.0]))
    assert got.device.type == "meta" and got.dtype == torch.int32 and got.shape == (1000, 3)


def test_the_stand_ins_give_the_same_values_for_tensors_on_cuda():
    torch.manual_seed(0)
    points = torch.rand(500, 4) * torch.tensor([12.0, 12.0, 4.0, 1.0]) - torch.tensor([1.0, 1.0, 0.5, 0.0])
    voxel, grid = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 0.0, 0.0, 10.0, 10.0, 3.0])
    coors = dynamic_voxelize(points, voxel, grid)
    on_cuda = dynamic_voxelize(points.as_subclass(OnCuda), voxel, grid)
    assert isinstance(on_cuda, OnCuda) and torch.equal(on_cuda.as_subclass(torch.Tensor), coors)
    feats = torch.randn(500, 3)
    for reduce in ("max", "mean"):
        expected = dynamic_scatter(feats, coors, reduce)
        got = dynamic_scatter(feats.as_subclass(OnCuda), coors.as_subclass(OnCuda), reduce)
        assert all(torch.equal(g.as_subclass(torch.Tensor), e) for g, e in zip(got, expected))
    boxes = torch.cat([torch.rand(40, 2) * 10, torch.rand(40, 2) * 3 + 1, torch.rand(40, 1) * 3], dim=1)
    scores = torch.rand(40)
    keep = nms_rotated_keep(boxes.as_subclass(OnCuda), scores.as_subclass(OnCuda), 0.2)
    assert keep.tolist() == nms_rotated_keep(boxes, scores, 0.2).tolist() and keep.dtype == torch.long
