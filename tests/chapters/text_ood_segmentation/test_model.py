"""TDOS's modules (chapter 04): the CLIP backbone and its perturbation, the prompt classifier, the
text-classified Mask2Former head, one training step of the segmentor, and the anomaly scores."""

import math

import numpy as np
import pytest
import torch

from mmdl_lib.data.cityscapes import CITYSCAPES_CLASSES

CLIP = {"name": "mmdl-vit-tiny-teacher", "pretrained": None, "weights": None}  # random weights


@pytest.fixture(scope="module")
def tdos():
    import mmdl_lib.chapters.text_ood_segmentation.model as module

    return module


def test_the_backbone_gives_a_four_level_pyramid_for_a_rectangular_image(tdos):
    from mmdl_lib.chapters.text_ood_segmentation.clip_backbone import CLIPVisionBackbone

    torch.manual_seed(0)
    backbone = CLIPVisionBackbone(CLIP, out_channels=(8, 16, 24, 32)).eval()
    levels = backbone(torch.randn(2, 3, 64, 128))
    assert [tuple(x.shape) for x in levels] == [(2, 8, 16, 32), (2, 16, 8, 16), (2, 24, 4, 8), (2, 32, 2, 4)]
    assert not any(p.requires_grad for p in backbone.visual.parameters())
    assert all(p.requires_grad for p in backbone.pyramid.parameters())
    with pytest.raises(Exception, match="multiple of the CLIP patch size 8"):
        backbone(torch.randn(1, 3, 60, 128))


def test_the_perturbation_changes_only_the_tokens_inside_the_mask(tdos):
    from mmdl_lib.chapters.text_ood_segmentation.clip_backbone import CLIPVisionBackbone

    torch.manual_seed(0)
    backbone = CLIPVisionBackbone(CLIP).eval()
    images = torch.randn(1, 3, 64, 128)
    pixels = torch.zeros(1, 64, 128, dtype=torch.bool)
    pixels[0, 16:40, 32:64] = True
    mask = backbone.token_mask(pixels)
    assert mask.shape == (1, 8, 16) and mask.sum() == 3 * 4
    with torch.no_grad():
        clean = backbone.tokens(images)
        perturbed = backbone.tokens(images, mask, torch.Generator().manual_seed(0))
    assert perturbed.shape == clean.shape
    changed = (perturbed - clean).abs().amax(dim=1)[0] > 1e-5
    assert torch.equal(changed, mask[0])  # the last block: nothing outside the region moves


def test_prompts_learn_context_and_negative_names_only(tdos):
    from mmdl_lib.chapters.text_ood_segmentation.prompts import PromptTextClassifier

    torch.manual_seed(0)
    classifier = PromptTextClassifier(CLIP, CITYSCAPES_CLASSES, n_ctx=4, learnable_cls_num=5,
                                      ood_concepts=["wheelbarrow", "sea lion"])
    text_id, text_ood = classifier()
    assert text_id.shape == (19, classifier.embed_dim) and text_ood.shape == (7, classifier.embed_dim)
    assert torch.allclose(text_id.norm(dim=-1), torch.ones(19), atol=1e-5)
    (text_id.sum() + text_ood.sum()).backward()
    trained = {name for name, p in classifier.named_parameters() if p.grad is not None}
    assert trained == {"context", "negative_names"}
    # different class names give different embeddings; the context is shared by all of them
    assert (text_id @ text_id.T - torch.eye(19)).abs().max() < 0.9999


def _segmentor(tdos, **model):
    from mmdl_lib.openmmlab import build_model, load_config

    cfg = load_config("tdos_cityscapes_smoke")
    cfg.model.backbone.clip = CLIP
    cfg.model.decode_head.text_classifier.update(clip=CLIP, learnable_cls_num=3, ood_concepts=["wheelbarrow"])
    cfg.model.data_preprocessor.size = (64, 128)
    cfg.model.update(model)
    torch.manual_seed(0)
    return build_model(cfg, "mmseg")


def _batch(n=2):
    from mmdl_lib.chapters.text_ood_segmentation.train import seg_batch

    rng = np.random.default_rng(0)
    labels = np.full((64, 128), 10, np.uint8)
    labels[32:] = 0
    labels[40:50, 10:30] = 13
    return seg_batch([(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8), labels.copy()) for _ in range(n)])


def test_the_head_scores_queries_against_text_with_one_ood_class(tdos):
    model = _segmentor(tdos)
    head = model.decode_head
    assert type(head).__name__ == "TextMask2FormerHead" and head.num_classes == 20
    queries = torch.randn(2, 5, head.cls_proj.in_features)
    logits = head.class_logits(queries)
    assert logits.shape == (2, 5, 21)  # 19 classes, OOD, no object
    with torch.no_grad():
        text_id, text_ood = head.text_classifier()
        q = torch.nn.functional.normalize(head.cls_proj(queries), dim=-1)
        expected = torch.logsumexp(head.log_scale.exp() * q @ text_ood.T, dim=-1)
    assert torch.allclose(logits[..., 19], expected, atol=1e-4)
    assert torch.allclose(logits[..., :19], head.log_scale.exp() * q @ text_id.T, atol=1e-4)


def test_one_training_step_with_the_augmentation_labels_regions_ood_and_updates_the_decoder(tdos):
    from mmengine.optim import build_optim_wrapper

    model = _segmentor(tdos, ood_augmentation={"probability": 1.0, "max_regions": 1, "radius": (0.1, 0.2)})
    model.seed_augmentation(0)
    model.train()
    optim = build_optim_wrapper(model, {"optimizer": {"type": "AdamW", "lr": 1e-3}})
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = model.data_preprocessor(_batch(), True)
    loss, logs = model.parse_losses(model.loss(batch["inputs"], batch["data_samples"]))
    assert all(math.isfinite(float(v)) for v in logs.values())
    optim.update_params(loss)
    relabelled = [int((s.gt_sem_seg.data == 19).sum()) for s in batch["data_samples"]]
    assert all(count > 0 for count in relabelled)  # each image got an OOD region
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("decode_head.transformer_decoder") for n in moved)
    assert "decode_head.text_classifier.context" in moved
    assert not any(n.startswith("backbone.visual") or n.startswith("decode_head.text_classifier.transformer")
                   for n in moved)  # both CLIP towers frozen


def test_finetune_trains_only_the_decoder_and_prompts(tdos):
    model = _segmentor(tdos, finetune=True)
    trained = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"decode_head"}
    model.train()
    assert not any(m.training for m in model.modules())  # the seed's --finetune: eval mode throughout


def test_prediction_gives_class_maps_of_the_input_size(tdos):
    from mmdl_lib.chapters.text_ood_segmentation.train import predict_class_maps

    model = _segmentor(tdos).eval()
    images = [np.zeros((64, 128, 3), np.uint8)] * 3
    maps = predict_class_maps(model, images, batch_size=2)
    assert maps.shape == (3, 20, 64, 128) and (maps >= 0).all()
    example = model.augmentation_example(model.data_preprocessor(_batch(1), False)["inputs"],
                                         torch.from_numpy(np.asarray(_batch(1)["data_samples"][0].gt_sem_seg.data[0])))
    assert example["region"].any() and example["token_cosine"].shape == (8, 16)
    assert (example["token_cosine"][example["region"][::8, ::8].bool()] < 0.999).all()


def test_anomaly_scores_on_hand_made_class_maps(tdos):
    # two pixels, K = 2 in-distribution classes + OOD
    probs = torch.tensor([[0.6, 0.2, 0.2], [0.1, 0.1, 0.6]]).T.reshape(1, 3, 1, 2)
    scores = tdos.anomaly_scores(probs)
    assert torch.allclose(scores["tdos"][0, 0], torch.tensor([0.2, 0.75]))
    assert torch.allclose(scores["msp"][0, 0], torch.tensor([0.25, 0.5]))
    assert torch.allclose(scores["max_logit"][0, 0], torch.tensor([-0.6, -0.1]))
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert torch.allclose(scores["entropy"][0, 0], torch.tensor([h, math.log(2)]), atol=1e-6)
    assert set(scores) == set(tdos.SCORE_NAMES)
