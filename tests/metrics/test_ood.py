"""Pixel-level OOD metrics (mmdl_lib/metrics/ood.py) on hand-computed cases."""

import numpy as np
import pytest

from mmdl_lib.metrics.ood import ood_metrics


def test_a_hand_computed_case():
    # sorted by score: 0.8 (anomaly), 0.4 (in-dist), 0.35 (anomaly), 0.1 (in-dist)
    # AUROC: of the 4 (anomaly, in-dist) pairs, 3 rank the anomaly higher → 0.75
    # AP: precision 1/1 at recall ½, 2/3 at recall 1 → ½·1 + ½·⅔ = 0.8333
    # FPR95: reaching all anomalies needs the threshold 0.35, which also flags 0.4 → ½
    found = ood_metrics(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert found == pytest.approx({"auroc": 0.75, "ap": 5 / 6, "fpr95": 0.5})


def test_void_pixels_are_ignored():
    scores = np.array([[0.1, 0.4, 0.99], [0.35, 0.8, 0.0]])
    labels = np.array([[0, 0, 255], [1, 1, 255]])  # a confident void pixel and a missed one
    assert ood_metrics(scores, labels) == pytest.approx({"auroc": 0.75, "ap": 5 / 6, "fpr95": 0.5})
    scored_as_in_distribution = np.where(labels == 255, 0, labels)
    assert ood_metrics(scores, scored_as_in_distribution)["ap"] < 5 / 6  # void would have counted


def test_perfect_and_inverted_scores():
    labels = np.array([0, 0, 0, 1, 1])
    assert ood_metrics(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), labels) == {"auroc": 1.0, "ap": 1.0, "fpr95": 0.0}
    inverted = ood_metrics(np.array([0.9, 0.8, 0.7, 0.2, 0.1]), labels)
    assert inverted["auroc"] == 0.0 and inverted["fpr95"] == 1.0


def test_fpr95_with_many_anomalies_is_at_the_95th_percent_of_them():
    # 20 anomalies scored 1..20, 10 in-distribution pixels scored 0.5..9.5: TPR 95 % keeps 19 anomalies
    # (threshold 2), which flags the in-distribution pixels scored 2.5..9.5, 8 of 10
    anomalies, normal = np.arange(1, 21, dtype=float), np.arange(10) + 0.5
    labels = np.r_[np.ones(20), np.zeros(10)].astype(int)
    assert ood_metrics(np.r_[anomalies, normal], labels)["fpr95"] == pytest.approx(0.8)


@pytest.mark.parametrize("scores, labels, message", [
    (np.zeros(3), np.array([0, 1, 7]), r"found \[7\]"),
    (np.zeros(3), np.array([0, 0, 255]), "no anomaly pixel"),
    (np.zeros(2), np.array([1, 255]), "no in-distribution pixel"),
    (np.zeros((2, 2)), np.zeros(4, dtype=int), r"shape \(2, 2\) for labels of shape \(4,\)"),
    (np.array([np.nan, 0.0]), np.array([0, 1]), "NaN"),
])
def test_bad_input_is_an_error(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        ood_metrics(scores, labels)


def test_fpr95_reads_the_first_threshold_past_95_percent_even_on_a_straight_roc_segment():
    # one anomaly and one normal pixel per score level: the ROC curve is a straight line, whose inner
    # points scikit-learn's roc_curve drops by default (it would then read FPR 1.0 at TPR 1.0)
    scores = np.repeat(np.arange(20, 0, -1), 2).astype(float)
    labels = np.tile([1, 0], 20)
    assert ood_metrics(scores, labels)["fpr95"] == pytest.approx(19 / 20)
