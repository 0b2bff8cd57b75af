"""Chapter 05's comparisons on hand-made cases: per-image scores agree with the chapter's report, and
the verdicts and sentences follow the intervals."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.token_compression import comparisons as compare
from mmdl_lib.chapters.token_compression.autoencoder import TokenAutoencoder, TokenAutoencoderConfig
from mmdl_lib.chapters.token_compression.critic import build_critic
from mmdl_lib.chapters.token_compression.metrics import compression_report
from mmdl_lib.metrics.uncertainty import Comparison


def test_per_image_scores_average_to_the_compression_report():
    torch.manual_seed(0)
    val = torch.randn(10, 8, 12, 12)
    model = TokenAutoencoder(TokenAutoencoderConfig(8, 12, 4, num_layers=2)).eval()
    model.fit_standardisation(val)
    critic = build_critic("single", 8, 16).eval()
    report = compression_report(model, critic, val, chunk=3)
    scores = compare.per_image_scores(model, critic, val, chunk=4)
    assert all(v.shape == (10,) for v in scores.values())
    assert scores["cosine"].mean() == pytest.approx(report["cosine"], abs=1e-5)
    assert scores["avgpool_cosine"].mean() == pytest.approx(report["avgpool_cosine"], abs=1e-5)
    assert scores["critic_distance"].mean() == pytest.approx(report["wasserstein"], abs=1e-5)
    assert scores["avgpool_critic_distance"].mean() == pytest.approx(report["avgpool_wasserstein"], abs=1e-5)
    assert set(compare.per_image_scores(model, None, val)) == {"cosine", "avgpool_cosine"}


def test_comparisons_read_their_intervals():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.8, 0.9, 200)
    better = compare.cosine_comparison(base + 0.02, base, ("compressor", "pooling"))
    assert better.winner == "compressor" and better.low > 0
    # lower critic distance is better: the compressor's smaller distance wins
    critic = compare.critic_comparison({"critic_distance": base, "avgpool_critic_distance": base + 1.0})
    assert critic.winner == "2D-conv compressor" and not critic.higher_is_better
    hits = rng.integers(0, 2, 200).astype(float)
    assert compare.probe_comparison(hits, hits, ("full tokens", "compressed")).winner is None


def _gap(difference, low, high):
    return Comparison("full tokens", "compressed", "attentive-probe accuracy", 0.8, 0.8 - difference, difference,
                      low, high, 0.95, "paired bootstrap over 100 items")


def test_probe_gap_sentence_uses_the_whole_interval():
    assert "whole interval is within" in compare.probe_gap_sentence(_gap(0.01, -0.02, 0.04), 0.05)
    assert "beyond the allowed" in compare.probe_gap_sentence(_gap(0.10, 0.07, 0.13), 0.05)
    reaching = compare.probe_gap_sentence(_gap(0.01, -0.03, 0.08), 0.05)
    assert "cannot show" in reaching and "point estimate is within" in reaching


def _variant(difference, low, high):
    return Comparison("seed defaults", "no_wgan", "reconstruction cosine", 0.92, 0.92 - difference, difference,
                      low, high, 0.95, "paired bootstrap over 100 items")


def test_variant_sentence_only_where_the_default_does_not_win():
    rows = {"seed defaults": {"token_norm_ratio": 0.96}, "no_wgan": {"token_norm_ratio": 0.90}}
    assert compare.variant_sentence(_variant(0.01, 0.005, 0.02), rows["seed defaults"], rows["no_wgan"], "no_wgan") == ""
    lost = compare.variant_sentence(_variant(-0.008, -0.01, -0.005), rows["seed defaults"], rows["no_wgan"], "no_wgan")
    assert lost.startswith("The seed's default loses to no_wgan") and "0.960" in lost and "0.900" in lost
    assert "full profile" in lost
    tied = compare.variant_sentence(_variant(-0.001, -0.01, 0.005), rows["seed defaults"], rows["no_wgan"], "no_wgan")
    assert "cannot be told apart" in tied
    # a default whose norm is not closer to the originals' gets no credit for it
    worse_norm = compare.variant_sentence(_variant(-0.008, -0.01, -0.005), {"token_norm_ratio": 0.80},
                                          rows["no_wgan"], "no_wgan")
    assert "buys nothing" in worse_norm
    assert compare.variants_markdown({"no_wgan": _variant(0.01, 0.005, 0.02)}, rows).startswith("The seed's default beats")
    assert compare.variants_markdown({"no_wgan": _variant(-0.008, -0.01, -0.005)}, rows).startswith("The seed's default loses")
