import pytest
import torch

from mmdl_lib.losses.grounding import Talk2CarLoss, attention_target


def test_perfect_prediction_costs_nothing():
    target = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    pred = torch.tensor([[0.25, 0.4, 0.3, 0.4]])  # the same box as (cx, cy, w, h)
    terms = Talk2CarLoss()(pred, target)
    assert terms["l1"].item() == pytest.approx(0, abs=1e-6)
    assert terms["giou"].item() == pytest.approx(0, abs=1e-6)


def test_disjoint_boxes_giou_by_hand():
    target = torch.tensor([[0.0, 0.0, 0.2, 0.2]])
    pred = torch.tensor([[0.7, 0.1, 0.2, 0.2]])  # xyxy 0.6..0.8 × 0..0.2: hull 0.8×0.2
    terms = Talk2CarLoss(w_l1=0, w_giou=1)(pred, target)
    giou = 0 - (0.16 - 0.08) / 0.16
    assert terms["giou"].item() == pytest.approx(1 - giou, rel=1e-5)
    assert terms["total"].item() == pytest.approx(terms["giou"].item())


def test_attention_target_covers_the_box():
    target = attention_target(torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.9, 0.9, 0.01, 0.01]]), 2, 2)
    assert target.sum(dim=1).tolist() == pytest.approx([1.0, 1.0])
    assert target[0].tolist() == pytest.approx([1.0, 0, 0, 0])  # only the top-left cell centre is inside
    assert target[1].argmax().item() == 3  # a tiny box still gets its nearest cell


def test_attention_term_is_logged_and_weighted():
    target = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
    attention = torch.full((1, 2, 2), 0.25)
    terms = Talk2CarLoss(w_l1=0, w_giou=0, w_attn=2.0)(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), target, attention)
    assert terms["attn"].item() == pytest.approx(-torch.log(torch.tensor(0.25)).item())
    assert terms["total"].item() == pytest.approx(2 * terms["attn"].item())
