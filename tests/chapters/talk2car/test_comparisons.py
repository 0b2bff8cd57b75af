"""Chapter 02's comparisons: per-command IoU, the paired verdicts on AP50 and mean IoU, the sentences
for the rivals the chapter's model does not beat, and the two measured reasons."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.talk2car.comparisons import (compare_grounding, finetune_reason, mean_pairwise_cosine,
                                                    per_command_iou, relative_weight_change, shortfall,
                                                    text_encoder_reason)
from mmdl_lib.metrics.boxes import grounding_metrics


def test_per_command_iou_gives_the_metrics_of_grounding_metrics():
    torch.manual_seed(0)
    target = torch.rand(50, 4) * 0.5
    pred = target + 0.05 * torch.randn(50, 4)
    iou = per_command_iou(pred, target)
    metrics = grounding_metrics(pred, target)
    assert iou.shape == (50,)
    assert (iou > 0.5).mean() == pytest.approx(metrics["ap50"]) and iou.mean() == pytest.approx(metrics["mean_iou"])


def test_a_better_model_wins_both_metrics_and_an_equal_one_ties():
    rng = np.random.default_rng(0)
    iou = {"main": rng.uniform(0.55, 0.9, 300), "floor": rng.uniform(0.0, 0.3, 300)}
    iou["twin"] = iou["main"].copy()
    found = compare_grounding(iou, "main", ["floor", "twin"])
    assert set(found) == {"main vs floor · AP50", "main vs floor · mean IoU", "main vs twin · AP50",
                          "main vs twin · mean IoU"}
    assert found["main vs floor · AP50"].winner == "main" and found["main vs floor · AP50"].score_a == 1.0
    assert found["main vs twin · mean IoU"].winner is None
    lines = shortfall(found, "main", {"twin": "Because."})
    assert len(lines) == 1 and "cannot be told apart from twin on AP50, mean IoU" in lines[0]
    assert lines[0].endswith("Because.") and "300 items" in lines[0]


def test_a_loss_is_said_and_a_clean_win_has_no_shortfall():
    iou = {"main": np.full(100, 0.2), "better": np.full(100, 0.8)}
    found = compare_grounding(iou, "main", ["better"])
    assert "loses to better on AP50, mean IoU" in shortfall(found, "main")[0]
    assert shortfall(compare_grounding(iou, "better", ["main"]), "better") == []


def test_mean_pairwise_cosine_and_relative_weight_change():
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])) == pytest.approx(1.0)
    assert mean_pairwise_cosine(torch.tensor([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.0)
    before = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        before.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))
    after = torch.nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        after.weight.copy_(torch.tensor([[3.0, 0.0, 4.5]]))
    assert relative_weight_change(before, after) == pytest.approx(0.1)
    assert relative_weight_change(before, before) == 0.0


def test_the_text_encoder_reason_reads_the_direction_of_the_measured_closeness():
    packed = text_encoder_reason({"teacher": 0.6, "minilm": 0.4}, None, smoke=True)
    assert "0.600" in packed and "packs the commands closer together" in packed and "synthetic region captions" in packed
    spread = text_encoder_reason({"teacher": 0.3, "minilm": 0.4}, "laion2b_s34b_b88k", smoke=False)
    assert "closer together" not in spread and "pre-trained (laion2b_s34b_b88k)" in spread and "full profile" not in spread


def test_the_finetune_reason_states_how_far_the_encoder_moved():
    assert finetune_reason(0.0059, 2, 5e-5, 3).startswith("Measured reason: in 2 epochs at 5e-05 the encoder's "
                                                          "weights moved by 0.59% of their norm. The full profile "
                                                          "fine-tunes 3 epochs")
