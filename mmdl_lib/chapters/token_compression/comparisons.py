"""How sure chapter 05's comparisons are: per-image scores, paired bootstraps over the validation
images, and the sentences the chapter prints where the seed's default setting loses or ties.

- :func:`per_image_scores`: for each validation image, the mean reconstruction cosine of its tokens
  (compressor and average pooling) and the trained critic's distance of its compressed and
  average-pooled tokens from its original tokens (one critic, so the two are on one scale). Their
  means are :func:`.metrics.compression_report`'s ``cosine``, ``avgpool_cosine``, ``wasserstein``
  and ``avgpool_wasserstein``.
- :func:`cosine_comparison`, :func:`critic_comparison`, :func:`probe_comparison`: a paired bootstrap
  over the same validation images (:func:`mmdl_lib.metrics.uncertainty.mean_difference`).
- :func:`probe_gap_sentence` reads the probe's gap against the allowed one from its interval;
  :func:`variant_sentence` says where the seed's default loses or ties against a variant, with the
  reason the run measured and what the full profile should change.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from ...metrics.uncertainty import Comparison, mean_difference
from .compressor import average_pool_tokens, nearest_upsample
from .metrics import token_cosine_map

RESAMPLES = 2000


@torch.no_grad()
def per_image_scores(model: torch.nn.Module, critic: torch.nn.Module | None, val: torch.Tensor,
                     chunk: int = 64) -> dict[str, np.ndarray]:
    """(N,) arrays over the validation images of raw tokens ``val`` (N, D, G, G): ``cosine`` and
    ``avgpool_cosine`` (each image's mean token cosine), and with a critic ``critic_distance`` and
    ``avgpool_critic_distance`` (critic(original) − critic(compressed / pooled) for that image)."""
    device = next(model.parameters()).device
    out: dict[str, list[np.ndarray]] = {"cosine": [], "avgpool_cosine": []}
    if critic is not None:
        out.update(critic_distance=[], avgpool_critic_distance=[])
    for start in range(0, len(val), chunk):
        target = model.standardise(val[start:start + chunk].to(device))
        compressed, recon = model(target)
        pooled = average_pool_tokens(target, model.config.output_grid)
        out["cosine"].append(token_cosine_map(recon, target).mean((1, 2)).cpu().numpy())
        out["avgpool_cosine"].append(
            token_cosine_map(nearest_upsample(pooled, target.shape[-1]), target).mean((1, 2)).cpu().numpy())
        if critic is not None:
            real = critic(target)
            out["critic_distance"].append((real - critic(compressed)).cpu().numpy())
            out["avgpool_critic_distance"].append((real - critic(pooled)).cpu().numpy())
    return {key: np.concatenate(parts).astype(np.float64) for key, parts in out.items()}


def cosine_comparison(a: np.ndarray, b: np.ndarray, names: tuple[str, str], seed: int = 0) -> Comparison:
    """Mean per-image reconstruction cosine of ``a`` against ``b`` over the same images (higher is better)."""
    return mean_difference(a, b, names, "reconstruction cosine", resamples=RESAMPLES, seed=seed)


def critic_comparison(scores: Mapping[str, np.ndarray], names: tuple[str, str] = ("2D-conv compressor",
                                                                                  "average pooling"),
                      seed: int = 0) -> Comparison:
    """The one trained critic's distance of compressed against average-pooled tokens (lower is closer
    to the original tokens, so lower is better)."""
    return mean_difference(scores["critic_distance"], scores["avgpool_critic_distance"], names,
                           "Wasserstein estimate of one critic", resamples=RESAMPLES, seed=seed,
                           higher_is_better=False)


def probe_comparison(hits_a: np.ndarray, hits_b: np.ndarray, names: tuple[str, str], seed: int = 0) -> Comparison:
    """Attentive-probe accuracy from per-image hits (1 right, 0 wrong) on the same validation images."""
    return mean_difference(hits_a, hits_b, names, "attentive-probe accuracy", resamples=RESAMPLES, seed=seed)


def probe_gap_sentence(full_vs_compressed: Comparison, allowed: float) -> str:
    """Whether the probe's accuracy gap (full − compressed tokens) is within ``allowed``, read from its
    interval: within when the whole interval is below it, beyond when the whole interval is above it."""
    c = full_vs_compressed
    interval = f"{c.difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"
    if c.high <= allowed:
        return (f"The attentive probe loses {interval} accuracy on the compressed tokens: the whole interval "
                f"is within the allowed gap of {allowed:.2f}.")
    if c.low > allowed:
        return (f"The attentive probe loses {interval} accuracy on the compressed tokens: the whole interval "
                f"is beyond the allowed gap of {allowed:.2f}, so the compression costs this reader more than "
                f"the chapter accepts.")
    return (f"The attentive probe's gap, {interval}, reaches past the allowed {allowed:.2f}: its point estimate "
            f"is {'within' if c.difference <= allowed else 'beyond'} the allowance, but this many validation "
            f"images cannot show that the gap is within it.")


def variant_sentence(comparison: Comparison, default: Mapping[str, float], variant: Mapping[str, float],
                     variant_name: str) -> str:
    """What a reader must know when the seed's default loses or ties against ``variant_name`` on
    reconstruction cosine: the verdict, the reason the run measured (for ``no_wgan``: how close each
    keeps the token norm to the originals') and what the full profile should change. Empty when the
    default wins."""
    if comparison.winner == comparison.a:
        return ""
    lost = comparison.winner == comparison.b
    head = (f"The seed's default loses to {variant_name} on reconstruction cosine"
            if lost else f"The seed's default and {variant_name} cannot be told apart on reconstruction cosine")
    head += f" ({comparison.score_a:.3f} against {comparison.score_b:.3f}, difference {comparison.difference:+.3f} " \
            f"[{comparison.low:+.3f}, {comparison.high:+.3f}])."
    if variant_name != "no_wgan":
        return head + (" The full profile trains every variant for its 100 epochs on real CLIP tokens and "
                       "scores them there.")
    r_default, r_variant = default["token_norm_ratio"], variant["token_norm_ratio"]
    if abs(1 - r_default) < abs(1 - r_variant):
        reason = (f" What the WGAN term bought instead is measured in the same run: the default's compressed "
                  f"tokens keep {r_default:.3f} of the original tokens' norm, the variant's {r_variant:.3f}, so "
                  f"the adversarial term trades some reconstruction for tokens whose size matches the originals' "
                  f"(one measured property of the distribution a reader of original tokens was trained on); "
                  f"reconstruction cosine cannot credit that.")
    else:
        reason = (f" Nor does the WGAN term keep the token norm closer to the originals' here ({r_default:.3f} "
                  f"against {r_variant:.3f} without it): in this run the adversarial term costs reconstruction "
                  f"and buys nothing the chapter measures.")
    return head + reason + (" The full profile (real CLIP tokens, 100 epochs, a critic that has time to catch "
                            "up) should decide the term by what it is for: train the downstream attentive probe "
                            "on each variant's compressed tokens as well, not by reconstruction alone.")


def variants_markdown(comparisons: Mapping[str, Comparison], rows: Mapping[str, Mapping[str, float]],
                      default: str = "seed defaults") -> str:
    """:func:`variant_sentence` for every variant (``comparisons`` by variant name, ``rows`` the
    compression reports by name, the default's under ``default``), or one sentence when the default
    wins every comparison."""
    paragraphs = [variant_sentence(c, rows[default], rows[name], name) for name, c in comparisons.items()]
    paragraphs = [p for p in paragraphs if p]
    return "\n\n".join(paragraphs) or "The seed's default beats every variant trained here on reconstruction cosine."
