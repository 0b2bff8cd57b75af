"""Stage-level guards: configs refuse what cannot work, and chapter 02 explains a missing chapter 01."""

import pytest

from mmdl_lib.errors import ConfigError, MMDLError
from mmdl_lib.stages import clip_kd, talk2car


def test_profiles_differ_in_names_and_sizes_only():
    smoke, full = clip_kd.ClipKDConfig.from_profile("smoke"), clip_kd.ClipKDConfig.from_profile("full")
    assert smoke.teacher_pretrained is None and smoke.teacher_epochs > 0
    assert (full.teacher_name, full.teacher_pretrained, full.backbone) == ("ViT-B-32", "laion2b_s34b_b79k",
                                                                           "convnext_tiny")


def test_an_untrained_teacher_is_refused():
    cfg = clip_kd.ClipKDConfig.from_profile("smoke", teacher_epochs=0)
    with pytest.raises(ConfigError, match="distil noise"):
        clip_kd.get_teacher(cfg, None, None, None)


@pytest.mark.parametrize("kwargs, message", [({"stage": "3"}, "stage must be"), ({"text_encoder": "bert"}, "text_encoder"),
                                             ({"encoder_variant": "tiny"}, "encoder_variant")])
def test_talk2car_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        talk2car.Talk2CarConfig.from_profile("smoke", **kwargs)


def test_stage_2_without_a_chapter_01_run_says_what_to_do(isolated_home):
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", stage="2")
    with pytest.raises(MMDLError, match="run chapter 01"):
        talk2car.find_or_train_distilled(cfg)
    with pytest.raises(MMDLError, match="stage 'test' needs a trained grounding model"):
        talk2car.latest_grounding(talk2car.Talk2CarConfig.from_profile("smoke", stage="test"))


def test_full_profile_without_coco_names_the_missing_file(isolated_home):
    with pytest.raises(MMDLError, match="instances_train2017.json.*COCO 2017 not found"):
        clip_kd.resolve_coco_root(clip_kd.ClipKDConfig.from_profile("full"))


def test_baselines_on_the_tiny_world(tiny_world):
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", data_root=str(tiny_world / "talk2car"))
    splits = talk2car.load_splits(cfg, tiny_world / "talk2car")
    found = talk2car.baselines(splits)
    assert set(found) == {"centre prior", "largest object"}
    assert all(0 <= m["ap50"] <= 1 and 0 <= m["mean_iou"] <= 1 for m in found.values())
    assert len(splits.train_idx) + len(splits.holdout_idx) == len(splits.train)
    held_images = set(splits.train.image_index[splits.holdout_idx])
    assert not held_images & set(splits.train.image_index[splits.train_idx])


def test_fine_tune_epoch_lowers_the_loss_on_a_small_set():
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from mmdl_lib.losses.grounding import Talk2CarLoss
    from mmdl_lib.models.grounding import Talk2CarModel, TransformerGroundingHead

    torch.manual_seed(0)
    features, text = torch.randn(4, 8, 3, 5), torch.randn(16, 6)
    boxes = torch.rand(16, 4) * 0.4 + torch.tensor([0.0, 0.0, 0.1, 0.1])
    data = talk2car.ImageCommands(features, np.arange(16) % 4, text, boxes, np.arange(14))
    assert len(data) == 4 and [len(item["text"]) for item in data] == [4, 4, 3, 3]
    model = Talk2CarModel(torch.nn.Identity(), TransformerGroundingHead(8, 6, d_model=16, num_layers=1))
    optimizer = torch.optim.Adam(model.head.parameters(), lr=3e-3)
    loader = DataLoader(data, batch_size=4, collate_fn=talk2car.collate_image_commands)
    batch = next(iter(loader))
    assert batch["features"].shape[0] == 4 and batch["image_index"].tolist() == [0] * 4 + [1] * 4 + [2] * 3 + [3] * 3
    criterion = Talk2CarLoss(w_attn=1.0, w_dense=1.0)
    first = talk2car.fine_tune_epoch(model, loader, criterion, optimizer, torch.device("cpu"))
    for _ in range(30):
        last = talk2car.fine_tune_epoch(model, loader, criterion, optimizer, torch.device("cpu"))
    assert set(first) == {"l1", "giou", "attn", "dense", "total"}
    assert last["total"] < 0.7 * first["total"]


def test_an_empty_training_part_is_reported():
    import numpy as np
    import torch

    with pytest.raises(MMDLError, match="empty"):
        talk2car.ImageCommands(torch.zeros(1, 2, 1, 1), np.zeros(3, int), torch.zeros(3, 2), torch.zeros(3, 4),
                               np.array([], dtype=int))
