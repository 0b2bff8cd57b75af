"""Uncertainty of comparisons: paired bootstrap and seed intervals on hand-made cases, and the verdicts
read from them."""

import numpy as np
import pytest

from mmdl_lib.metrics.uncertainty import (Comparison, mean_difference, paired_bootstrap, seed_comparison,
                                          seed_spread)


def test_a_clear_win_has_an_interval_that_excludes_zero():
    comparison = mean_difference([1.0] * 10, [0.0] * 10, ("distilled", "random"), "AP50")
    assert (comparison.difference, comparison.low, comparison.high) == (1.0, 1.0, 1.0)
    assert comparison.winner == "distilled"
    assert comparison.verdict().startswith("distilled beats random on AP50: 1.000 against 0.000 "
                                           "(distilled − random = +1.000 [+1.000, +1.000], 95% interval")
    assert "paired bootstrap over 10 items" in comparison.verdict()


def test_identical_methods_cannot_be_told_apart():
    comparison = mean_difference([1, 0, 1, 1], [1, 0, 1, 1], ("A", "B"), "R@5")
    assert comparison.winner is None and comparison.low == comparison.high == 0.0
    assert comparison.verdict().startswith("A and B cannot be told apart on R@5 with this data")


def test_the_bootstrap_interval_of_two_items_is_the_hand_computed_one():
    # resampling two items, A's mean is 0, ½ or 1 with probabilities ¼, ½, ¼: the 95 % interval is [0, 1]
    comparison = mean_difference([1.0, 0.0], [0.0, 0.0], ("A", "B"), "hits", resamples=4000)
    assert (comparison.low, comparison.high) == (0.0, 1.0) and comparison.difference == 0.5
    assert comparison.winner is None


def test_opposite_noise_straddles_zero_and_a_lower_is_better_metric_flips_the_winner():
    a, b = np.tile([1.0, 0.0], 20), np.tile([0.0, 1.0], 20)
    assert mean_difference(a, b, ("A", "B"), "accuracy").winner is None
    loss = mean_difference([0.1] * 8, [0.5] * 8, ("fused", "text head"), "log loss", higher_is_better=False)
    assert loss.difference == pytest.approx(-0.4) and loss.winner == "fused"
    assert loss.verdict().startswith("fused beats text head on log loss")


def test_groups_are_resampled_whole():
    # every item of image 0 is a hit for A, none of image 1: whole images are drawn, so A's mean is 0, ½ or 1
    scores_a, groups = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]), np.array([0, 0, 0, 1, 1, 1])
    comparison = paired_bootstrap(lambda i: scores_a[i].mean(), lambda i: 0.0, 6, ("A", "B"), "pixel AP",
                                  groups=groups, resamples=4000)
    assert (comparison.low, comparison.high) == (0.0, 1.0)
    assert comparison.method == "paired bootstrap over 2 groups of items"
    with pytest.raises(ValueError, match="groups has 2 entries for 6 items"):
        paired_bootstrap(lambda i: 0.0, lambda i: 0.0, 6, ("A", "B"), "x", groups=[0, 1])


def test_a_seed_interval_is_student_t_on_the_paired_differences():
    steady = seed_comparison([3.0, 4.0, 5.0], [1.0, 2.0, 3.0], ("KD", "no KD"), "BEV AP")
    assert (steady.low, steady.high, steady.winner) == (2.0, 2.0, "KD")
    noisy = seed_comparison([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], ("KD", "no KD"), "BEV AP")
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2) · sd 1 / √3
    assert (noisy.low, noisy.high) == pytest.approx((2 - half, 2 + half)) and noisy.winner is None
    assert noisy.method == "t over 3 paired seeds"


def test_welch_interval_for_independent_seeds():
    welch = seed_comparison([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], ("A", "B"), "x", paired=False)
    half = 2.7764451051977987 * np.sqrt(2 / 3)  # t(0.975, 4) · √(⅓ + ⅓)
    assert (welch.low, welch.high) == pytest.approx((-3 - half, -3 + half)) and welch.winner == "B"
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_comparison([1.0], [2.0], ("A", "B"), "x")


def test_spread_and_record_form():
    assert seed_spread([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3}
    record = Comparison("A", "B", "AP50", 0.5, 0.4, 0.1, 0.02, 0.18, 0.95, "paired bootstrap over 9 items").to_dict()
    assert record["winner"] == "A" and record["verdict"].startswith("A beats B on AP50")
    assert record["low"] == 0.02 and record["method"] == "paired bootstrap over 9 items"


def test_a_win_of_the_second_method_names_its_score_first():
    """"B beats A: <B's score> against <A's score>", the difference still A − B."""
    comparison = mean_difference([0.0] * 10, [1.0] * 10, ("teacher text", "MiniLM"), "AP50")
    assert comparison.verdict().startswith("MiniLM beats teacher text on AP50: 1.000 against 0.000 "
                                           "(teacher text − MiniLM = -1.000 [-1.000, -1.000]")
    loss = mean_difference([0.5] * 8, [0.1] * 8, ("text head", "fused"), "log loss", higher_is_better=False)
    assert loss.verdict().startswith("fused beats text head on log loss: 0.100 against 0.500 "
                                     "(text head − fused = +0.400")
