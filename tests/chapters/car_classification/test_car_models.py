import pytest
import torch

from mmdl_lib.chapters.car_classification.car_clip import CLIPCarClassifier, class_prompt
from mmdl_lib.chapters.car_classification.fusion import TextFusionClassifier
from mmdl_lib.chapters.car_classification.vlm_features import FeatureRows, build_feature_head
from mmdl_lib.models.teacher import CLIPTeacher


@pytest.mark.parametrize("fusion", ["weighted", "concat"])
def test_fusion_heads_shapes_and_loss(fusion):
    torch.manual_seed(0)
    text = torch.randn(7, 16)
    model = TextFusionClassifier("test_efficientnet", text, fusion=fusion, alpha=0.3)
    images, labels = torch.rand(4, 3, 48, 48), torch.tensor([0, 3, 6, 1])
    heads = model.heads(images)
    assert {k: tuple(v.shape) for k, v in heads.items()} == {"visual": (4, 7), "text": (4, 7), "fused": (4, 7)}
    if fusion == "weighted":
        assert torch.allclose(heads["fused"], 0.3 * heads["visual"] + 0.7 * heads["text"], atol=1e-5)
    loss = model.loss(images, labels)
    assert set(loss) == {"ce_visual", "ce_text", "ce_fused", "total"}
    loss["total"].backward()
    assert model.project[0].weight.grad is not None and model.class_text.grad is None  # sentence side frozen


def test_fusion_rejects_unknown_mode():
    with pytest.raises(ValueError, match="fusion"):
        TextFusionClassifier("test_efficientnet", torch.randn(3, 8), fusion="sum")


def test_clip_classifier_scores_every_class_and_trains_both_towers():
    torch.manual_seed(0)
    clip = CLIPTeacher("mmdl-vit-tiny-teacher")
    names = ["Aster_Sedan_Gen1_2015_2018", "Borealis_Suv_Gen2_2018_2021", "Cygna_Coupe_Gen1_2021_2024"]
    model = CLIPCarClassifier(clip, names)
    assert model.prompts[0] == class_prompt(names[0]) == "a photo of a Aster Sedan Gen1 2015 2018."
    images = torch.rand(4, 3, clip.image_size, clip.image_size)
    assert model(images).shape == (4, 3)
    loss = model.contrastive_loss(images, torch.tensor([0, 1, 1, 2]))
    loss.backward()
    assert torch.isfinite(loss)
    assert clip.model.visual.conv1.weight.grad is not None and clip.model.token_embedding.weight.grad is not None


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_feature_heads(kind):
    head = build_feature_head(kind, 12, 5, hidden=8)
    rows = FeatureRows(torch.randn(6, 12), torch.arange(6) % 5)
    assert head(rows[0]["feature"][None]).shape == (1, 5) and len(rows) == 6
    with pytest.raises(ValueError):
        build_feature_head("svm", 12, 5)
