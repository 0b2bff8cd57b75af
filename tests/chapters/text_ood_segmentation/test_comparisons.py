"""Chapter 04's OOD-score comparison (mmdl_lib/chapters/text_ood_segmentation/comparisons.py): AP and
FPR95 of reweighted images equal scikit-learn's on the repeated pixels, and the paired bootstrap over
images finds the known winner, or none."""

import numpy as np
import pytest

from mmdl_lib.chapters.text_ood_segmentation.comparisons import PixelRanking, comparison_notes, compare_ood_scores
from mmdl_lib.metrics.ood import ood_metrics


def _images(rng, n=6, shape=(9, 11)):
    labels = [rng.choice([0, 1, 255], size=shape, p=[0.75, 0.2, 0.05]) for _ in range(n)]
    for label in labels:
        label.flat[:2] = (1, 0)  # both classes in every image
    return labels


@pytest.mark.parametrize("trial", range(20))
def test_ap_and_fpr95_of_weighted_images_equal_those_of_the_repeated_pixels(trial):
    rng = np.random.default_rng(trial)
    labels = _images(rng)
    scores = [np.round(rng.random(lab.shape) + 0.4 * (lab == 1), 2) for lab in labels]  # ties included
    ranking = PixelRanking(scores, labels)
    weights = rng.integers(0, 3, size=len(labels))
    weights[0] = 1
    repeated = ood_metrics(np.concatenate([np.tile(s.ravel(), k) for s, k in zip(scores, weights)]),
                           np.concatenate([np.tile(lab.ravel(), k) for lab, k in zip(labels, weights)]))
    assert ranking.ap(weights) == pytest.approx(repeated["ap"])
    assert ranking.fpr_at_tpr(weights) == pytest.approx(repeated["fpr95"])
    everything = ood_metrics(np.stack(scores), np.stack(labels))
    assert ranking.ap() == pytest.approx(everything["ap"]) and ranking.fpr_at_tpr() == pytest.approx(
        everything["fpr95"])


def test_per_image_ap_is_each_image_alone():
    rng = np.random.default_rng(3)
    labels = _images(rng, n=3)
    scores = [rng.random(lab.shape) for lab in labels]
    ranking = PixelRanking(scores, labels)
    assert ranking.per_image_ap() == pytest.approx([ood_metrics(s, lab)["ap"] for s, lab in zip(scores, labels)])


def _rankings(rng, n=30):
    labels = _images(rng, n=n, shape=(12, 12))
    noise = [rng.random(lab.shape) for lab in labels]
    return {"tdos": PixelRanking([(lab == 1) + 0.3 * z for lab, z in zip(labels, noise)], labels),  # separates
            "msp": PixelRanking([rng.random(lab.shape) for lab in labels], labels),  # random
            "max_logit": PixelRanking(noise, labels),  # random too, but its own
            "entropy": PixelRanking([(lab == 1) + 0.3 * z for lab, z in zip(labels, noise)], labels)}  # = tdos


def test_the_bootstrap_finds_the_known_winner_and_a_tie():
    found = compare_ood_scores(_rankings(np.random.default_rng(0)), resamples=200)
    assert set(found) == {f"tdos_vs_{b}_{m}" for b in ("msp", "max_logit", "entropy") for m in ("ap", "fpr95")}
    for baseline in ("msp", "max_logit"):
        assert found[f"tdos_vs_{baseline}_ap"].winner == "TDOS (OOD prompts)"
        assert found[f"tdos_vs_{baseline}_fpr95"].winner == "TDOS (OOD prompts)"  # lower FPR95
        assert found[f"tdos_vs_{baseline}_fpr95"].difference < 0
    tie = found["tdos_vs_entropy_ap"]
    assert tie.winner is None and tie.difference == 0 and "30 OOD images" in tie.method
    assert "cannot be told apart" in tie.verdict()


def test_a_better_baseline_wins():
    rankings = _rankings(np.random.default_rng(1))
    rankings["tdos"], rankings["msp"] = rankings["msp"], rankings["tdos"]
    found = compare_ood_scores(rankings, baselines=("msp",), metrics=("ap",), resamples=200)
    assert found["tdos_vs_msp_ap"].winner == "MSP"


def test_the_notes_explain_a_tie_and_a_loss_from_the_run():
    rankings = _rankings(np.random.default_rng(2))
    rankings["tdos"], rankings["msp"] = rankings["msp"], rankings["tdos"]
    found = compare_ood_scores(rankings, metrics=("ap",), resamples=200)
    notes = comparison_notes(found, rankings)
    assert "loses to MSP" in notes and "loses to entropy" in notes and "The full profile" in notes
    n_positive = int(rankings["tdos"].positives.sum())
    assert f"{n_positive} anomalous pixels in 30 images" in notes
    winning = compare_ood_scores(_rankings(np.random.default_rng(2)), baselines=("msp",), metrics=("ap",),
                                 resamples=200)
    assert "beats every baseline" in comparison_notes(winning, _rankings(np.random.default_rng(2)),
                                                      baselines=("msp",))
