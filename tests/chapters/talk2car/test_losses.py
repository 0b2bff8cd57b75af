import pytest
import torch

from mmdl_lib.chapters.talk2car.losses import Talk2CarLoss, attention_target


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
    output = {"box": torch.tensor([[0.25, 0.25, 0.5, 0.5]]), "attention": torch.full((1, 2, 2), 0.25)}
    terms = Talk2CarLoss(w_l1=0, w_giou=0, w_attn=2.0)(output, target)
    assert terms["attn"].item() == pytest.approx(-torch.log(torch.tensor(0.25)).item())
    assert terms["total"].item() == pytest.approx(2 * terms["attn"].item())
    assert "dense" not in terms  # w_dense = 0


def test_dense_term_weighs_only_the_tokens_inside_the_box():
    target = torch.tensor([[0.0, 0.0, 0.5, 0.5]])  # on a 2×2 grid only the top-left token is inside
    exact = [0.25, 0.25, 0.5, 0.5]  # the target as (cx, cy, w, h)
    shifted = [0.35, 0.25, 0.5, 0.5]  # moved right by 0.1: L1 0.1, overlap 0.4×0.5, hull 0.6×0.5
    far = [0.9, 0.9, 0.1, 0.1]
    output = {"box": torch.tensor([exact]), "attention": torch.full((1, 2, 2), 0.25)}
    output["token_boxes"] = torch.tensor([[exact, far, far, far]])
    terms = Talk2CarLoss(w_l1=5, w_giou=2, w_dense=1.0)(output, target)
    assert terms["dense"].item() == pytest.approx(0, abs=1e-6)  # the far boxes lie outside the target
    output["token_boxes"] = torch.tensor([[shifted, exact, exact, exact]])
    terms = Talk2CarLoss(w_l1=5, w_giou=2, w_dense=3.0)(output, target)
    inter, union, hull = 0.4 * 0.5, 2 * 0.25 - 0.4 * 0.5, 0.6 * 0.5
    giou = inter / union - (hull - union) / hull
    assert terms["dense"].item() == pytest.approx(5 * 0.1 + 2 * (1 - giou), rel=1e-5)
    assert terms["total"].item() == pytest.approx(3 * terms["dense"].item(), rel=1e-5)


def test_training_on_cached_maps_lowers_the_loss_on_a_small_set():
    import numpy as np
    from torch.utils.data import DataLoader

    from mmdl_lib.chapters.talk2car.dataset import ImageCommands, collate_image_commands
    from mmdl_lib.chapters.talk2car.losses import grounding_loss
    from mmdl_lib.chapters.talk2car.model import Talk2CarModel, TransformerGroundingHead
    from mmdl_lib.engine.trainer import run_epoch

    torch.manual_seed(0)
    features, text = torch.randn(4, 8, 3, 5), torch.randn(16, 6)
    boxes = torch.rand(16, 4) * 0.4 + torch.tensor([0.0, 0.0, 0.1, 0.1])
    data = ImageCommands(features, np.arange(16) % 4, text, boxes, np.arange(14))
    model = Talk2CarModel(torch.nn.Identity(), TransformerGroundingHead(8, 6, d_model=16, num_layers=1))
    optimizer = torch.optim.Adam(model.head.parameters(), lr=3e-3)
    loader = DataLoader(data, batch_size=4, collate_fn=collate_image_commands)
    loss_fn = grounding_loss(Talk2CarLoss(w_attn=1.0, w_dense=1.0))
    first = run_epoch(model, loader, loss_fn, optimizer, torch.device("cpu"))
    for _ in range(30):
        last = run_epoch(model, loader, loss_fn, optimizer, torch.device("cpu"))
    assert set(first) == {"l1", "giou", "attn", "dense", "total"}
    assert last["total"] < 0.7 * first["total"]
