"""Chapter 03's gradient-matching depth loss, on hand-computed cases."""

import math

import pytest
import torch

from mmdl_lib.chapters.pseudo_lidar_kd.depth_loss import gradient_matching_loss


def test_a_hand_computed_pair_of_pixels():
    target = torch.tensor([[[1.0, math.e]]])
    predicted = torch.tensor([[[1.0, 1.0]]])  # R = [0, -1]: one horizontal difference of 1 over 2 valid pixels
    assert gradient_matching_loss(predicted, target, scales=1).item() == pytest.approx(0.5)
    # at step 2 the map is one pixel, with no difference: (0.5 + 0) / 2
    assert gradient_matching_loss(predicted, target, scales=2).item() == pytest.approx(0.25)


def test_a_constant_factor_costs_nothing_and_a_flattened_car_does():
    target = torch.full((1, 8, 8), 30.0)
    target[:, 2:6, 2:6] = 10.0  # a car in front of a wall
    assert gradient_matching_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_matching_loss(2.5 * target, target).item() == pytest.approx(0.0, abs=1e-6)  # scale-free
    flattened = torch.full_like(target, 30.0)  # the car painted with the wall's depth
    assert gradient_matching_loss(flattened, target).item() > 0.1


def test_pixels_without_depth_break_no_difference():
    target = torch.tensor([[[1.0, 0.0, 1.0]]])  # the middle pixel has no depth
    predicted = torch.tensor([[[1.0, 50.0, 7.0]]])
    assert gradient_matching_loss(predicted, target, scales=1).item() == 0.0  # no two neighbours are valid


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_matching_loss(torch.ones(1, 4, 4), torch.ones(1, 4, 5))
