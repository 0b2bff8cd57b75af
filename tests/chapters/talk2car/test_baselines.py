"""Chapter 02's trivial baselines on the tiny world, and the holdout split they are scored beside."""

from mmdl_lib.chapters.talk2car import pipeline as talk2car
from mmdl_lib.chapters.talk2car.baselines import baseline_metrics


def test_baselines_on_the_tiny_world(tiny_world):
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", data_root=str(tiny_world / "talk2car"))
    splits = talk2car.load_splits(cfg, tiny_world / "talk2car")
    found = baseline_metrics(splits)
    assert set(found) == {"centre prior", "largest object"}
    assert all(0 <= m["ap50"] <= 1 and 0 <= m["mean_iou"] <= 1 for m in found.values())
    assert len(splits.train_idx) + len(splits.holdout_idx) == len(splits.train)
    held_images = set(splits.train.image_index[splits.holdout_idx])
    assert not held_images & set(splits.train.image_index[splits.train_idx])
