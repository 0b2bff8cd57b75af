import numpy as np
import pytest

from mmdl_lib.metrics.retrieval import chance_recall, recall_at_k, retrieval_report


def test_recall_at_k_on_a_hand_made_matrix():
    sim = np.array([[0.9, 0.1, 0.5],    # query 0: positive ranked 1st
                    [0.8, 0.2, 0.7],    # query 1: positive (col 1) ranked 3rd
                    [0.3, 0.6, 0.4]])   # query 2: positive (col 2) ranked 2nd
    hits = recall_at_k(sim, np.eye(3, dtype=bool), ks=(1, 2, 3))
    assert hits[1].tolist() == [True, False, False]
    assert hits[2].tolist() == [True, False, True]
    assert hits[3].tolist() == [True, True, True]


def test_any_positive_counts_and_ties_do_not_help():
    sim = np.array([[0.5, 0.5, 0.1]])
    assert recall_at_k(sim, np.array([[False, True, False]]), ks=(1,))[1].tolist() == [False]
    assert recall_at_k(sim, np.array([[False, True, True]]), ks=(2,))[2].tolist() == [True]


def test_query_without_positive_is_an_error():
    with pytest.raises(ValueError, match="at least one positive"):
        recall_at_k(np.zeros((1, 2)), np.zeros((1, 2), dtype=bool))


def test_chance_recall_matches_brute_force():
    rng = np.random.default_rng(0)
    positives = np.zeros((3, 6), dtype=bool)
    positives[0, 0] = positives[1, [1, 2]] = positives[2, [0, 3, 5]] = True
    trials = np.mean([recall_at_k(rng.random((3, 6)), positives, ks=(2,))[2].mean() for _ in range(4000)])
    assert chance_recall(positives, 2) == pytest.approx(trials, abs=0.02)
    assert chance_recall(positives, 6) == 1.0


def test_report_splits_by_size():
    image = np.eye(3)
    text = np.eye(3)
    report = retrieval_report(image, text, np.array([0, 1, 2]), small=np.array([True, False, False]),
                              query_small=np.array([True, False, False]), ks=(1,))
    assert report["t2r_R@1"] == report["r2t_R@1"] == 1.0
    assert report["r2t_R@1_small"] == report["t2r_R@1_large"] == 1.0


def test_chance_recall_with_k_beyond_the_gallery_is_one_without_warnings():
    import warnings

    positives = np.array([[True, False, False], [False, False, True]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert chance_recall(positives, 5) == 1.0
        assert chance_recall(positives, 3) == 1.0
