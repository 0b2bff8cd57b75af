import torch

from mmdl_lib.chapters.text_ood_segmentation.ood_augmentation import (perturb_attention_features, sample_ood_regions,
                                                                      shuffled_value_attention)


def test_the_perturbation_changes_features_and_keeps_shapes():
    features = torch.randn(12, 32) * 3 + 1
    perturbed = perturb_attention_features(features, 1.0, torch.Generator().manual_seed(0))
    assert perturbed.shape == features.shape and perturbed.dtype == features.dtype
    cosine = torch.nn.functional.cosine_similarity(features, perturbed, dim=1)
    assert (cosine < 0.9).all()  # each prototype left its feature
    assert 0.3 < perturbed.std() / features.std() < 3  # and kept the features' scale


def test_the_perturbation_is_reproducible_diverse_and_scaled_by_strength():
    features = torch.randn(8, 16)
    a = perturb_attention_features(features, 1.0, torch.Generator().manual_seed(1))
    b = perturb_attention_features(features, 1.0, torch.Generator().manual_seed(1))
    c = perturb_attention_features(features, 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(perturb_attention_features(features, 0.0), features)
    weak = perturb_attention_features(features, 0.1, torch.Generator().manual_seed(1))
    assert (weak - features).norm() < (a - features).norm()
    assert perturb_attention_features(torch.zeros(0, 16)).shape == (0, 16)


def test_regions_lie_on_the_road_and_follow_the_probability():
    labels = torch.full((3, 40, 60), 10)  # sky…
    labels[:, 25:, :] = 0  # …over a road
    none = sample_ood_regions(labels, probability=0.0, generator=torch.Generator().manual_seed(0))
    assert not none.any()
    masks = sample_ood_regions(labels, probability=1.0, max_regions=1, radius=(0.05, 0.1),
                               generator=torch.Generator().manual_seed(0))
    assert masks.shape == labels.shape and masks.dtype == torch.bool
    for mask in masks:
        ys, xs = mask.nonzero(as_tuple=True)
        assert len(ys) > 0
        centre_y = int(ys.float().mean().round())
        assert labels[0, centre_y, int(xs.float().mean().round())] == 0  # centred on the road
        assert mask.sum() <= torch.pi * (0.1 * 40) ** 2 + 4  # no larger than the largest radius allows


def test_an_image_without_road_gets_no_region():
    labels = torch.full((1, 20, 20), 10)
    assert not sample_ood_regions(labels, probability=1.0, generator=torch.Generator().manual_seed(0)).any()


def test_shuffled_values_keep_the_attention_weights_and_move_the_content():
    torch.manual_seed(0)
    attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    tokens = torch.randn(2, 6, 8)
    plain = attention(tokens, tokens, tokens, need_weights=False)[0]
    mixed = shuffled_value_attention(attention, tokens, torch.Generator().manual_seed(0))
    assert mixed.shape == plain.shape and not torch.allclose(mixed, plain)
    order = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mixed, attention(tokens, tokens, tokens[:, order], need_weights=False)[0])


def test_object_regions_are_whole_objects_of_thing_classes():
    labels = torch.zeros(1, 40, 60, dtype=torch.long)  # road
    labels[0, 10:20, 5:25] = 13  # a car
    labels[0, 30:32, 50:52] = 11  # a person too small to count (4 pixels < min_object_pixels)
    masks = sample_ood_regions(labels, probability=1.0, max_regions=1, object_fraction=1.0, min_object_pixels=16,
                               generator=torch.Generator().manual_seed(0))
    assert torch.equal(masks[0], labels[0] == 13)
