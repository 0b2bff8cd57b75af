"""GLPN depth for chapter 03: built from configs, predictions at the image size, max_depth scaling."""

import numpy as np
import torch

from mmdl_lib.chapters.pseudo_lidar_kd.depth_network import build_glpn, network_size, predict_depth


def test_smoke_glpn_predicts_at_the_image_size_and_max_depth_scales_it():
    torch.manual_seed(0)
    model = build_glpn("smoke")
    images = torch.randint(0, 255, (2, 3, 94, 310), dtype=torch.uint8)
    size = network_size((310, 94))
    assert size == (320, 96)
    depth = predict_depth(model, images, size, torch.device("cpu"))
    assert depth.shape == (2, 94, 310) and (depth > 0).all() and depth.max() <= 80
    shrunk = predict_depth(model, images, size, torch.device("cpu"), max_depth=10)
    assert np.allclose(depth / shrunk, 8.0, rtol=1e-4)  # the seed's ×8: max_depth 80 run as 10
    assert model.config.max_depth == 80  # restored


def test_the_full_architecture_is_glpn_kitti_size():
    params = sum(p.numel() for p in build_glpn("full").parameters())
    assert 60e6 < params < 63e6  # GLPN with a MiT-b4 encoder: 62 M in the paper


def test_random_flips_mirror_image_and_depth_together():
    from mmdl_lib.chapters.pseudo_lidar_kd.depth_network import random_flips

    torch.manual_seed(0)
    pixels = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).view(2, 3, 2, 4)
    depth = pixels[:, 0] + 100  # depth follows the image's columns
    flips = [random_flips([(p, d) for p, d in zip(pixels, depth)]) for _ in range(20)]
    assert all(torch.equal(p[:, 0] + 100, d) for p, d in flips)  # still aligned after every flip
    mirrored = [bool(torch.equal(p[0], pixels[0].flip(-1))) for p, _ in flips]
    assert any(mirrored) and not all(mirrored)


def test_the_depth_loss_adds_the_weighted_gradient_term_to_glpns_own():
    from mmdl_lib.chapters.pseudo_lidar_kd.depth_network import depth_loss

    torch.manual_seed(0)
    model = build_glpn("smoke")
    pixels = torch.randn(2, 3, 64, 64)
    target = torch.rand(2, 64, 64) * 40 + 5
    target[:, :10] = 0  # pixels without depth
    plain = depth_loss(model, (pixels, target))
    assert set(plain) == {"total"}
    parts = depth_loss(model, (pixels, target), gradient_weight=2.0)
    assert torch.allclose(parts["silog"], plain["total"])  # GLPN's own loss, unchanged
    assert parts["gradient"] > 0 and torch.allclose(parts["total"], parts["silog"] + 2.0 * parts["gradient"])
