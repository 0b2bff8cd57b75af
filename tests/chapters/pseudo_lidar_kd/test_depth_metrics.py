"""Chapter 03's depth metrics: the pixel averages and the per-object error a detector feels."""

import numpy as np
import pytest

from mmdl_lib.chapters.pseudo_lidar_kd.depth_metrics import depth_metrics, object_depth_errors
from mmdl_lib.chapters.pseudo_lidar_kd.pseudo_lidar import perturb_object_depths
from mmdl_lib.data.kitti import KittiObject, object_pixels


def car(z: float, box=(2.0, 2.0, 5.0, 5.0), kind: str = "Car") -> KittiObject:
    """A 1.6 m wide, 3.9 m long object at depth ``z`` filling ``box`` (left, top, right, bottom)."""
    return KittiObject(kind, 0.0, 0, 0.0, np.array(box), np.array([1.5, 1.6, 3.9]), np.array([0.0, 1.6, z]), 0.0)


def scene() -> np.ndarray:
    depth = np.full((8, 10), 40.0)  # a wall at 40 m
    depth[2:6, 2:6] = 10.0  # the car's pixels: its 2D box, rows/columns 2–5
    depth[0, :] = 0.0  # no depth (sky)
    return depth


def test_object_pixels_are_the_box_at_the_objects_depth():
    depth = scene()
    depth[5, 5] = 40.0  # the wall seen through a corner of the box
    mask = object_pixels(depth, car(10.0))
    assert mask.sum() == 15 and not mask[5, 5] and mask[2, 2] and not mask[1, 2]


def test_the_per_object_error_is_the_relative_error_of_its_median_depth():
    truth = scene()
    predicted = truth.copy()
    predicted[2:6, 2:6] = 11.0  # 10 % too far
    predicted[2, 2] = 100.0  # one flying pixel moves a median by nothing
    errors = object_depth_errors(predicted[None], truth[None], [[car(10.0), car(10.0, kind="Pedestrian")]])
    assert errors == pytest.approx([0.1])  # the pedestrian is not a Car
    predicted[2, 2] = 11.0
    assert depth_metrics(predicted[None], truth[None])["abs_rel"] < 0.03  # the pixel average hides the 10 %
    assert len(object_depth_errors(predicted[None], truth[None], [[car(10.0, box=(8.0, 6.0, 9.0, 7.0))]])) == 0


def test_perturbed_depth_scales_each_object_alone_and_is_seeded():
    truth = np.stack([scene(), scene()])
    objects = [[car(10.0)], [car(10.0)]]
    noisy = perturb_object_depths(truth, objects, 0.2, seed=3)
    assert np.array_equal(noisy, perturb_object_depths(truth, objects, 0.2, seed=3))
    factors = noisy[:, 2:6, 2:6] / truth[:, 2:6, 2:6]
    assert np.allclose(factors, factors[:, :1, :1])  # one factor per object
    assert not np.isclose(factors[0, 0, 0], factors[1, 0, 0]) and not np.isclose(factors[0, 0, 0], 1.0)
    outside = np.ones(truth.shape[1:], dtype=bool)
    outside[2:6, 2:6] = False
    assert np.array_equal(noisy[:, outside], truth[:, outside])  # road, walls and sky untouched
    assert np.array_equal(perturb_object_depths(truth, objects, 0.0), truth)
