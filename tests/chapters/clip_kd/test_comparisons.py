"""Chapter 01's comparisons: per-query hits that average to the report's recalls, paired intervals,
and the ablation answer read from them."""

import numpy as np

from mmdl_lib.chapters.clip_kd.comparisons import ablation_answer, ablation_reason, compare_hits, retrieval_hits
from mmdl_lib.metrics.retrieval import retrieval_report
from mmdl_lib.metrics.uncertainty import Comparison


def test_the_hits_average_to_the_retrieval_report():
    rng = np.random.default_rng(0)
    caption_ids = np.array([0, 0, 1, 2, 2, 2, 4, 4])  # caption 3 is carried by no region
    image, text = rng.normal(size=(8, 6)), rng.normal(size=(5, 6))
    hits = retrieval_hits(image, text, caption_ids, ks=(1, 5))
    report = retrieval_report(image, text, caption_ids, np.zeros(8, bool), np.zeros(5, bool), ks=(1, 5))
    assert len(hits["t2r_R@1"]) == 4 and len(hits["r2t_R@1"]) == 8
    for key, values in hits.items():
        assert values.mean() == report[key]


def test_a_perfect_student_beats_a_blind_one_and_an_equal_one_ties():
    caption_ids = np.repeat(np.arange(20), 3)
    text = np.eye(20)
    perfect = text[caption_ids]
    blind = np.tile(text[0], (60, 1))  # every region looks like caption 0
    hits = {name: retrieval_hits(emb, text, caption_ids) for name, emb in
            {"perfect": perfect, "blind": blind, "copy": perfect.copy()}.items()}
    won = compare_hits(hits, "perfect", "blind", ["t2r_R@1", "r2t_R@1"])
    assert all(c.winner == "perfect" for c in won.values())
    assert set(won) == {"perfect vs blind · t2r_R@1", "perfect vs blind · r2t_R@1"}
    assert won["perfect vs blind · r2t_R@1"].metric == "region→text R@1"
    tied = compare_hits(hits, "perfect", "copy", ["t2r_R@5"])
    assert next(iter(tied.values())).winner is None


def _c(a, b, metric, low, high):
    return Comparison(a, b, metric, 0.5, 0.5, (low + high) / 2, low, high, 0.95, "paired bootstrap over 10 items")


def test_the_ablation_answer_follows_the_intervals():
    all_wins = {"1": _c("all", "x", "m1", 0.1, 0.2), "2": _c("all", "y", "m1", 0.05, 0.3)}
    assert "does the work" in ablation_answer(all_wins, main="all")
    tie = {"1": _c("all", "x", "m1", 0.1, 0.2), "2": _c("all", "y", "m1", -0.05, 0.3)}
    text = ablation_answer(tie, main="all")
    assert "cannot say that the combination does more than y" in text and "does the work" not in text
    loss = {"1": _c("all", "x", "m1", -0.3, -0.1), "2": _c("all", "y", "m1", 0.05, 0.3)}
    assert "x beats it" in ablation_answer(loss, main="all")


def test_the_reason_is_given_only_when_the_combination_does_not_win_everywhere():
    hits = {"all": {"t2r_R@1": np.array([1, 0, 1, 1]), "r2t_R@1": np.ones(9, bool)},
            "teacher": {"t2r_R@1": np.array([1, 1, 1, 1]), "r2t_R@1": np.ones(9, bool)}}
    assert ablation_reason(hits, {"1": _c("all", "x", "m1", 0.1, 0.2)}, main="all") is None
    reason = ablation_reason(hits, {"1": _c("all", "x", "m1", -0.1, 0.2)}, main="all")
    assert "4 distinct captions" in reason and "9 regions" in reason and "75%" in reason
