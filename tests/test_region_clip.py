"""The region CLIP every chapter shares: region embeddings in dataset order, the teacher's targets, its
contrastive training, and a teacher that cannot be had says why."""

import pytest
import torch

from mmdl_lib.data.coco_regions import COCORegionTextDataset, PlainRegionCrops
from mmdl_lib.errors import ConfigError, MMDLError
from mmdl_lib.models.teacher import CLIPTeacher
from mmdl_lib.region_clip import (RegionTeacherConfig, embed_regions, get_teacher, resolve_coco_root, teacher_targets,
                                  train_region_clip)


def _regions(world, split):
    return COCORegionTextDataset(world / "coco", split, image_size=48, min_window=40)


def test_region_embeddings_follow_the_dataset_order(tiny_world):
    val = _regions(tiny_world, "val")
    encode = lambda images: images.mean(dim=(2, 3))  # one row per crop: its channel means
    expected = torch.stack([crop.mean(dim=(1, 2)) for crop in PlainRegionCrops(val)])
    torch.testing.assert_close(embed_regions(encode, val, torch.device("cpu"), batch_size=3), expected)


def test_the_teacher_targets_cover_every_region_and_caption_and_training_moves_the_teacher(tiny_world):
    train, val = _regions(tiny_world, "train"), _regions(tiny_world, "val")
    torch.manual_seed(0)
    teacher = CLIPTeacher("mmdl-vit-tiny-teacher")
    before = [p.detach().clone() for p in teacher.parameters()]
    history = train_region_clip(teacher, train, val, epochs=1, lr=1e-3, batch_size=8, temperature=0.07,
                                device=torch.device("cpu"))
    assert len(history) == 1 and 0.0 <= history[0]["val_t2r_R@5"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, teacher.parameters()))
    targets = teacher_targets(teacher.freeze(), train, val, torch.device("cpu"))
    assert targets.train_image.shape == (len(train), teacher.embed_dim)
    assert targets.train_text.shape == (len(train.captions), teacher.embed_dim)
    assert targets.val_image.shape[0] == len(val) and targets.val_text.shape[0] == len(val.captions)


def test_a_batch_of_crops_cycles_through_a_small_dataset(tiny_world):
    crops = PlainRegionCrops(_regions(tiny_world, "val"))
    batch = crops.batch(len(crops) + 2)
    assert batch.shape == (len(crops) + 2, 3, 48, 48)
    torch.testing.assert_close(batch[len(crops)], crops[0])


def test_an_untrained_teacher_is_refused():
    cfg = RegionTeacherConfig.from_profile("smoke", teacher_epochs=0)
    with pytest.raises(ConfigError, match="distil noise"):
        get_teacher(cfg, None, None, None)


def test_full_profile_without_coco_names_the_missing_file(isolated_home):
    with pytest.raises(MMDLError, match="instances_train2017.json.*COCO 2017 not found"):
        resolve_coco_root(RegionTeacherConfig.from_profile("full"))
