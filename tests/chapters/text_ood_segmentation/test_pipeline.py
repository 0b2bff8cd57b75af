"""Chapter 04's configuration and orchestration (mmdl_lib/chapters/text_ood_segmentation/)."""

import pytest

from mmdl_lib.chapters.text_ood_segmentation.pipeline import TextOODSegConfig, model_config, smoke_checks
from mmdl_lib.errors import ConfigError


def test_the_rehearsal_keeps_the_full_model_with_random_weights():
    full = TextOODSegConfig.from_profile("full")
    rehearsal = TextOODSegConfig.from_profile("full", rehearse=True)
    assert rehearsal.model_config == full.model_config == "tdos_cityscapes_full"
    assert rehearsal.clip_name == full.clip_name == "ViT-B-16" and rehearsal.clip_pretrained is None
    assert rehearsal.image_size == full.image_size == [512, 1024] and rehearsal.learnable_cls_num == 50
    assert rehearsal.synthetic and rehearsal.synthetic_preset == "rehearsal" and rehearsal.max_steps == 1
    assert "random weights" in rehearsal.record_notes() and full.record_notes() is None


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="image_size"):
        TextOODSegConfig.from_profile("smoke", image_size=[128])
    with pytest.raises(ConfigError, match="load_from"):
        TextOODSegConfig.from_profile("full", finetune=True)
    with pytest.raises(ConfigError, match="ood_layout"):
        TextOODSegConfig.from_profile("smoke", ood_layout="fishbowl")


def test_the_synthetic_ood_set_has_one_layout(isolated_home):
    from mmdl_lib.chapters.text_ood_segmentation.pipeline import resolve_roots

    with pytest.raises(ConfigError, match="fishyscapes layout, not 'road_anomaly'"):
        resolve_roots(TextOODSegConfig.from_profile("smoke", ood_layout="road_anomaly", synthetic_preset="tiny"))


def test_the_model_config_carries_the_runs_settings():
    cfg = TextOODSegConfig.from_profile("smoke", learnable_cls_num=7, ood_augmentation=False, perturb_layer=1)
    clip = {"name": "mmdl-vit-tiny-teacher", "pretrained": None, "weights": "/w.safetensors"}
    config = model_config(cfg, clip, {"near": [{"name": "wheelbarrow"}], "far": [{"name": "sea lion"}]})
    head = config.model.decode_head
    assert config.model.type == "TextDrivenOODSeg" and head.type == "TextMask2FormerHead"
    assert head.text_classifier.clip == clip == config.model.backbone.clip
    assert head.text_classifier.ood_concepts == ["wheelbarrow", "sea lion"] and head.text_classifier.learnable_cls_num == 7
    assert len(head.text_classifier.class_names) == 19 and head.num_classes == 20
    assert len(head.loss_cls.class_weight) == 21
    assert config.model.ood_augmentation is None and config.model.backbone.perturb_layer == 1
    assert tuple(config.model.data_preprocessor.size) == (128, 256)


def _metrics(tdos_ap, miou=0.4, compared=("msp", "max_logit", "entropy")):
    ood = {"tdos": {"ap": tdos_ap}, "msp": {"ap": 0.02}, "max_logit": {"ap": 0.05}, "entropy": {"ap": 0.03}}
    comparisons = {f"tdos_vs_{name}_{metric}": {} for name in compared for metric in ("ap", "fpr95")}
    return {"ood": ood, "anomaly_fraction": 0.01, "comparisons": comparisons,
            "segmentation": {"miou": miou, "chance_miou": 0.03}}


def test_smoke_checks_need_a_tdos_score_that_learned_its_comparisons_and_a_real_segmenter():
    assert all(smoke_checks(_metrics(0.03)).values())  # learned (3× random) though max logit's AP is higher
    assert not all(smoke_checks(_metrics(0.015)).values())  # 1.5× a random score's AP
    assert not all(smoke_checks(_metrics(0.06, compared=("msp", "entropy"))).values())  # max logit not compared
    assert not all(smoke_checks(_metrics(0.06, miou=0.08)).values())
