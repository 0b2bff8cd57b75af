import math

import numpy as np
import pytest
from sklearn.metrics import log_loss

from mmdl_lib.metrics.classification import (accuracy, classification_report, competition_log_loss,
                                             expected_calibration_error, merge_duplicate_classes, prior_probabilities,
                                             reliability_bins)


def test_log_loss_matches_scikit_learn_on_normalised_rows():
    rng = np.random.default_rng(0)
    probs = rng.random((50, 6)) + 0.01
    labels = rng.integers(0, 6, 50)
    expected = log_loss(labels, y_proba=probs / probs.sum(1, keepdims=True), labels=list(range(6)))
    assert competition_log_loss(probs, labels) == pytest.approx(expected, rel=1e-9)


def test_log_loss_normalises_rows_then_clips_zero_probabilities():
    probs = np.array([[2.0, 2.0], [0.0, 1.0]])  # row 0 sums to 4; row 1 gives its true class 0
    loss = competition_log_loss(probs, np.array([0, 0]))
    assert loss == pytest.approx((-math.log(0.5) - math.log(1e-15)) / 2)


def test_duplicate_pair_is_scored_as_one_class():
    probs = np.array([[0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([1, 0])  # classes 0 and 1 are the same model
    # merged: [[0.9, 0.1], [0.2, 0.8]], labels [0, 0]
    assert competition_log_loss(probs, labels, pairs=[(0, 1)]) == pytest.approx(-(math.log(0.9) + math.log(0.2)) / 2)
    assert competition_log_loss(probs, labels) == pytest.approx(-(math.log(0.4) + math.log(0.1)) / 2)
    assert accuracy(probs, labels, pairs=[(0, 1)]) == 0.5
    merged, mapped = merge_duplicate_classes(probs, np.array([2, 1]), [(0, 1)])
    assert merged.shape == (2, 2) and mapped.tolist() == [1, 0]


def test_log_loss_rejects_bad_shapes_and_negative_values():
    with pytest.raises(ValueError, match="expected"):
        competition_log_loss(np.ones(4), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="non-negative"):
        competition_log_loss(np.array([[-0.1, 1.1]]), np.array([0]))


def test_ece_on_a_hand_made_case():
    # four predictions at confidence 0.9 (3 right) and two at 0.6 (1 right), 10 bins
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 1])
    expected = 4 / 6 * abs(0.75 - 0.9) + 2 / 6 * abs(0.5 - 0.6)
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert bins["count"].sum() == 6 and bins["count"][8] == 4 and bins["count"][5] == 2


def test_perfectly_calibrated_and_confident_predictions_have_zero_ece():
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(probs, np.array([0, 1, 2, 0])) == 0.0
    report = classification_report(probs, np.array([0, 1, 2, 0]))
    assert report["accuracy"] == 1.0 and report["log_loss"] == pytest.approx(-math.log(1 - 1e-15))


def test_prior_baseline_is_the_training_frequencies():
    prior = prior_probabilities(np.array([0, 0, 1, 2]), 3, 2)
    assert prior.shape == (2, 3) and prior[0].tolist() == [0.5, 0.25, 0.25]
