"""Segmentation IoU (mmdl_lib/metrics/segmentation.py) on hand-computed cases."""

import numpy as np
import pytest

from mmdl_lib.metrics.segmentation import class_iou, confusion_matrix, mean_iou


def test_a_hand_computed_case():
    target = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [1, 0, 2]])  # the last pixel is ignored whatever it says
    confusion = confusion_matrix(prediction, target, num_classes=4)
    assert confusion.sum() == 5 and confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[2, 0] == 1
    # class 0: 1 / (2 + 2 - 1) = 1/3; class 1: 2 / (2 + 3 - 2) = 2/3; class 2: 0 / 1 = 0; class 3: absent
    assert class_iou(confusion)[:3] == pytest.approx([1 / 3, 2 / 3, 0.0]) and np.isnan(class_iou(confusion)[3])
    assert mean_iou(confusion) == pytest.approx(1 / 3)


def test_perfect_prediction_and_accumulation():
    target = np.array([0, 1, 2, 2])
    total = confusion_matrix(target, target, 3) + confusion_matrix(target[::-1], target, 3)
    assert mean_iou(confusion_matrix(target, target, 3)) == 1.0
    assert total.sum() == 8 and mean_iou(total) < 1.0


def test_bad_labels_and_shapes_are_errors():
    with pytest.raises(ValueError, match=r"label values \[7\] are neither a class \(0..3\) nor ignore \(255\)"):
        confusion_matrix(np.zeros(2), np.array([0, 7]), 4)
    with pytest.raises(ValueError, match=r"prediction of shape \(3,\) for a label map of shape \(2,\)"):
        confusion_matrix(np.zeros(3), np.zeros(2), 4)


def test_majority_class_miou_by_hand():
    from mmdl_lib.metrics.segmentation import majority_class_miou

    labels = [np.array([[0, 0, 1], [0, 255, 2]])]  # class 0 is the majority: predicted everywhere
    # class 0: 3 / 5 scored pixels; classes 1 and 2: IoU 0
    assert majority_class_miou(labels, 3) == pytest.approx((3 / 5 + 0 + 0) / 3)
