"""Chapter 05's metrics on hand-made cases."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.token_compression.metrics import (linear_probe_accuracy, probe_accuracy, reconstruction_report,
                                                         token_cosine_map, zero_shot_accuracy)


def test_reconstruction_report_by_hand():
    target = torch.zeros(1, 2, 1, 2)
    target[0, 0, 0, 0], target[0, 1, 0, 1] = 1.0, 1.0
    assert reconstruction_report(target, target) == {"cosine": pytest.approx(1.0), "mse": 0.0}
    half = target.clone()
    half[0, :, 0, 1] = torch.tensor([1.0, 0.0])  # second token now orthogonal to its original
    assert torch.allclose(token_cosine_map(half, target), torch.tensor([[[1.0, 0.0]]]))
    assert reconstruction_report(half, target) == {"cosine": pytest.approx(0.5), "mse": pytest.approx(0.5)}


def test_zero_shot_and_probe_accuracy():
    classes = torch.eye(3)
    images = torch.tensor([[1.0, 0, 0], [0, 0.9, 0.1], [0.6, 0.4, 0]])
    assert zero_shot_accuracy(images, classes, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    probe = torch.nn.Flatten()  # "logits" = the flattened 1×1 grid
    assert probe_accuracy(probe, images.view(3, 3, 1, 1), torch.tensor([0, 1, 0])) == 1.0


def test_linear_probe_separates_separable_classes_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    features = rng.normal(size=(90, 5)) + 4 * np.eye(3, 5)[labels]
    assert linear_probe_accuracy(features[::2], labels[::2], features[1::2], labels[1::2]) == 1.0
    noise = rng.normal(size=(90, 5))
    assert linear_probe_accuracy(noise[::2], labels[::2], noise[1::2], labels[1::2]) < 0.7
