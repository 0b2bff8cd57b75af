import pytest
import torch
from torchvision.ops import box_iou

from mmdl_lib.metrics.boxes import THRESHOLDS, grounding_metrics, pairwise_iou, xywh_to_xyxy


def test_iou_by_hand():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 1.0, 1.0]])
    gt = torch.tensor([[1.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    # overlap 1×2 = 2, union 4 + 4 − 2 = 6; identical; disjoint
    assert pairwise_iou(pred, gt).tolist() == pytest.approx([1 / 3, 1.0, 0.0])


def test_iou_matches_torchvision_diagonal():
    torch.manual_seed(0)
    a = torch.rand(20, 4) * torch.tensor([50, 50, 30, 30]) + torch.tensor([0, 0, 1, 1])
    b = torch.rand(20, 4) * torch.tensor([50, 50, 30, 30]) + torch.tensor([0, 0, 1, 1])
    expected = box_iou(xywh_to_xyxy(a), xywh_to_xyxy(b)).diagonal()
    assert torch.allclose(pairwise_iou(a, b), expected, atol=1e-6)


def test_ap50_is_strictly_above_half():
    gt = torch.tensor([[0.0, 0.0, 2.0, 1.0]] * 2)
    exactly_half = torch.tensor([[0.0, 0.0, 1.0, 1.0]])  # IoU = 1/2
    just_above = torch.tensor([[0.0, 0.0, 1.01, 1.0]])
    metrics = grounding_metrics(torch.cat([exactly_half, just_above]), gt)
    assert metrics["ap50"] == 0.5
    assert metrics["mean_iou"] == pytest.approx((0.5 + 0.505) / 2)


def test_zero_overlap_and_ap50_95():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    pred = torch.tensor([[20.0, 20.0, 5.0, 5.0], [0.0, 0.0, 10.0, 7.8]])  # IoU 0 and 0.78
    metrics = grounding_metrics(pred, gt)
    assert metrics["ap50"] == 0.5
    # IoU 0.78 clears 0.50..0.75 (6 of 10 thresholds); the other command clears none
    assert list(THRESHOLDS) == pytest.approx([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    assert metrics["ap50_95"] == pytest.approx(6 / 10 / 2)
