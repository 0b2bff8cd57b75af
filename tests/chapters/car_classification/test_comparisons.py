"""Chapter 06's comparisons on hand-made cases: per-image scores as the competition scores them,
the hybrid's measured reason, and the sentences read from intervals and temperatures."""

import numpy as np
import pytest

from mmdl_lib.chapters.car_classification import comparisons as compare
from mmdl_lib.metrics.classification import accuracy, competition_log_loss
from mmdl_lib.metrics.uncertainty import Comparison


def test_per_item_scores_average_to_the_competition_scores_with_pairs_merged():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=40)
    labels = rng.integers(0, 5, 40)
    pairs = [(1, 3)]
    scores = compare.per_item_scores(probs, labels, pairs)
    assert scores["log_loss"].mean() == pytest.approx(competition_log_loss(probs, labels, pairs))
    assert scores["correct"].mean() == pytest.approx(accuracy(probs, labels, pairs))
    # a row split evenly over a duplicate pair is right and costs log 2 less once merged
    row = np.array([[0.0, 0.5, 0.0, 0.5, 0.0]])
    merged = compare.per_item_scores(row, np.array([3]), pairs)
    assert merged["log_loss"][0] == pytest.approx(0.0, abs=1e-12) and merged["correct"][0] == 1.0
    assert compare.per_item_scores(row, np.array([3]))["log_loss"][0] == pytest.approx(np.log(2))


def test_paired_comparisons_name_the_better_approach_per_metric():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 150)
    good = np.full((150, 4), 0.1)
    good[np.arange(150), labels] = 0.7
    flat = np.full((150, 4), 0.25)
    found = compare.paired_comparisons({"good": good, "flat": flat}, labels, "good")
    assert set(found) == {"good vs flat: log loss", "good vs flat: accuracy"}
    assert found["good vs flat: log loss"].winner == "good"  # lower log loss wins
    assert not found["good vs flat: log loss"].higher_is_better
    assert found["good vs flat: accuracy"].winner == "good"
    assert compare.paired_comparisons({"good": good, "flat": flat}, labels, "flat")["flat vs good: log loss"].winner == "good"


def test_hybrid_reason_measures_the_reranking_inside_the_top_k():
    hint = np.array([[0.5, 0.3, 0.2, 0.0], [0.6, 0.3, 0.1, 0.0], [0.7, 0.2, 0.1, 0.0]])
    labels = np.array([1, 0, 3])  # the third image's class is outside the top-2
    hybrid = hint.copy()
    hybrid[0, :2] = [0.2, 0.6]  # the VLM moves the mass to the right candidate
    hybrid[1, :2] = [0.3, 0.6]  # and away from it
    reason = compare.hybrid_reason(hint, hybrid, labels, top_k=2)
    assert reason["right_class_in_top_k"] == pytest.approx(2 / 3)
    assert reason["hint_share"] == pytest.approx((0.3 / 0.8 + 0.6 / 0.9) / 2)
    assert reason["hybrid_share"] == pytest.approx((0.6 / 0.8 + 0.3 / 0.9) / 2)
    assert reason["hint_first"] == 0.5 and reason["hybrid_first"] == 0.5


def _hybrid(difference, low, high):
    return Comparison("QLoRA VLM (hybrid)", "CLIP fine-tuned", "test log loss", 1.4 + difference, 1.4, difference,
                      low, high, 0.95, "paired bootstrap over 120 items", higher_is_better=False)


def test_hybrid_sentence_follows_the_verdict():
    reason = {"right_class_in_top_k": 0.6, "hint_share": 0.5, "hybrid_share": 0.3, "hint_first": 0.55,
              "hybrid_first": 0.3}
    lost = compare.hybrid_sentence(_hybrid(0.5, 0.3, 0.7), reason, 5, "random", 40)
    assert lost.startswith("The QLoRA hybrid loses to its own hint source, CLIP fine-tuned")
    assert "30%" in lost and "random weights" in lost
    assert "cannot be told apart" in compare.hybrid_sentence(_hybrid(0.1, -0.1, 0.3), reason, 5, "random", 40)
    assert "improves on" in compare.hybrid_sentence(_hybrid(-0.3, -0.5, -0.1), reason, 5, "random", 40)
    assert "out-of-fold" in compare.hybrid_sentence(_hybrid(0.5, 0.3, 0.7), reason, 5, "pretrained", 40)


def test_temperature_sentence_reads_the_direction_from_t():
    sentence = compare.temperature_sentence({"A": {"temperature": 0.83}, "B": {"temperature": 2.06},
                                             "C": {"temperature": 1.03}})
    assert "under-confident, so scaling sharpens them (T < 1): A (T = 0.83)" in sentence
    assert "over-confident, so scaling flattens their probabilities (T > 1): B (T = 2.06)" in sentence
    assert "close to calibrated already: C (T = 1.03)" in sentence
    assert "over-confident" not in compare.temperature_sentence({"A": {"temperature": 0.5}})


def test_comparisons_fall_back_to_validation_without_test_labels():
    import types

    from mmdl_lib.chapters.car_classification import pipeline as stage

    data = types.SimpleNamespace(classes=["a", "b", "c"], train_labels=np.array([0, 0, 0, 1, 2, 0, 1]))
    split = types.SimpleNamespace(data=data, train=np.arange(5), val=np.arange(5, 7), test_labels=None, pairs=[])
    split.labels = lambda part: data.train_labels[getattr(split, part)]
    assert stage.comparison_part(split) == "val"
    probs = stage.part_probabilities({"m": {"val": np.eye(3)[:2], "test": np.eye(3)}}, split, "val")
    assert list(probs) == ["class prior", "m"] and probs["class prior"].shape == (2, 3)
    assert probs["class prior"][0] == pytest.approx([0.6, 0.2, 0.2])
    split.test_labels = np.array([0, 1, 2])
    assert stage.comparison_part(split) == "test" and list(stage.part_labels(split, "test")) == [0, 1, 2]
