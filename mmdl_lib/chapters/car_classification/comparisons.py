"""How sure chapter 06's comparisons are, and the sentences it computes from them.

- :func:`per_item_scores`: each image's log loss and hit, scored as the competition scores (rows
  normalised, clipped, duplicate pairs merged); their means are
  :func:`mmdl_lib.metrics.classification.competition_log_loss` and ``accuracy``.
- :func:`paired_comparisons`: one approach against others on the same images, a paired bootstrap
  over the images of per-image log loss (lower is better) and hits.
- :func:`hybrid_reason` / :func:`hybrid_sentence`: what the QLoRA hybrid does to its hint's
  probabilities (it only re-divides the hint's mass on its top-K), measured, and the sentence the
  chapter prints where the hybrid does not beat its own hint source.
- :func:`temperature_sentence`: over- or under-confidence read from each fitted temperature.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...metrics.classification import CLIP, merge_duplicate_classes
from ...metrics.uncertainty import Comparison, mean_difference
from .submission import topk_indices

RESAMPLES = 2000
CALIBRATED_BAND = 0.05  # |T − 1| below this: neither over- nor under-confident enough to say


def per_item_scores(probabilities: np.ndarray, labels: np.ndarray,
                    pairs: Sequence[tuple[int, int]] = ()) -> dict[str, np.ndarray]:
    """(N,) ``log_loss`` and ``correct`` per image, duplicate pairs merged as the competition scores."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    merged, merged_labels = merge_duplicate_classes(normalised, np.asarray(labels), pairs)
    picked = np.clip(merged, CLIP, 1 - CLIP)[np.arange(len(merged_labels)), merged_labels]
    return {"log_loss": -np.log(picked), "correct": (merged.argmax(axis=1) == merged_labels).astype(np.float64)}


def paired_comparisons(approaches: Mapping[str, np.ndarray], labels: np.ndarray, main: str,
                       others: Sequence[str] | None = None, pairs: Sequence[tuple[int, int]] = (),
                       where: str = "test", seed: int = 0) -> dict[str, Comparison]:
    """``main`` against each of ``others`` (default: every other approach) on the images of one part:
    ``"<main> vs <other>: log loss"`` and ``": accuracy"``, each a paired bootstrap over those images."""
    scores = {name: per_item_scores(p, labels, pairs) for name, p in approaches.items()}
    out = {}
    for other in (others if others is not None else [n for n in approaches if n != main]):
        for metric, key, higher in (("log loss", "log_loss", False), ("accuracy", "correct", True)):
            out[f"{main} vs {other}: {metric}"] = mean_difference(
                scores[main][key], scores[other][key], (main, other), f"{where} {metric}", resamples=RESAMPLES,
                seed=seed, higher_is_better=higher)
    return out


def hybrid_reason(hint: np.ndarray, hybrid: np.ndarray, labels: np.ndarray, top_k: int) -> dict[str, float]:
    """What the hybrid changed, on the images whose right class is among the hint's top-K: the share of
    the hint's top-K mass each gives the right class, and how often each ranks it first."""
    hint, hybrid, labels = np.asarray(hint, dtype=np.float64), np.asarray(hybrid, dtype=np.float64), np.asarray(labels)
    candidates = topk_indices(hint, top_k)
    inside = (candidates == labels[:, None]).any(axis=1)
    rows = np.flatnonzero(inside)
    mass = np.take_along_axis(hint, candidates, axis=1).sum(axis=1)
    out = {"images": float(len(labels)), "right_class_in_top_k": float(inside.mean())}
    if len(rows):
        out.update(hint_share=float((hint[rows, labels[rows]] / mass[rows]).mean()),
                   hybrid_share=float((hybrid[rows, labels[rows]] / mass[rows]).mean()),
                   hint_first=float((hint[rows].argmax(1) == labels[rows]).mean()),
                   hybrid_first=float((hybrid[rows].argmax(1) == labels[rows]).mean()))
    return out


def hybrid_sentence(log_loss: Comparison, reason: Mapping[str, float], top_k: int, vlm_weights: str,
                    steps: int) -> str:
    """The computed paragraph under the QLoRA hybrid against its own hint source (``log_loss`` has the
    hybrid as ``a``): where the hybrid does not win, what the run measured and what the full profile
    should change."""
    if log_loss.winner == log_loss.a:
        return (f"The QLoRA hybrid improves on its own hint source, {log_loss.b}, on {log_loss.metric}: "
                f"the VLM re-ranks the hint's top-{top_k} candidates better than the hint itself.")
    head = (f"The QLoRA hybrid loses to its own hint source, {log_loss.b}, on {log_loss.metric}"
            if log_loss.winner == log_loss.b else
            f"The QLoRA hybrid cannot be told apart from its own hint source, {log_loss.b}, on {log_loss.metric}")
    head += f" ({log_loss.score_a:.3f} against {log_loss.score_b:.3f})."
    measured = (f" The hybrid only re-divides the hint's probability mass on its top-{top_k} candidates; on the "
                f"{reason['right_class_in_top_k']:.0%} of images whose right class is among them")
    if "hint_share" in reason:
        measured += (f", the hint gives that class {reason['hint_share']:.0%} of the mass and ranks it first on "
                     f"{reason['hint_first']:.0%}, the VLM gives it {reason['hybrid_share']:.0%} and ranks it first "
                     f"on {reason['hybrid_first']:.0%}.")
    else:
        measured += " (none here), it cannot help at all."
    if vlm_weights == "random":
        outlook = (f" The VLM here has random weights and {steps} training steps, so it can only learn which "
                   f"candidate position to trust, from training prompts whose hints were made on the hint model's "
                   f"own training images (more often right than on new ones). The full profile's pretrained "
                   f"Qwen2.5-VL reads the car itself: that is where the hybrid has to beat its hint, and this "
                   f"comparison, recomputed there, says whether it does.")
    else:
        outlook = (" With pretrained weights this is the method's own result: train with hints made on held-out "
                   "folds (out-of-fold top-K), so the training prompts are as often wrong as the test prompts.")
    return head + measured + outlook


def temperature_sentence(temperature: Mapping[str, Mapping[str, float]], band: float = CALIBRATED_BAND) -> str:
    """Each approach's fitted T read as over-confident (T > 1: scaling flattens its probabilities),
    under-confident (T < 1: scaling sharpens them) or close to calibrated (|T − 1| < ``band``)."""
    groups: dict[str, list[str]] = {"over": [], "under": [], "close": []}
    for name, row in temperature.items():
        t = row["temperature"]
        kind = "close" if abs(t - 1) < band else ("over" if t > 1 else "under")
        groups[kind].append(f"{name} (T = {t:.2f})")
    parts = []
    if groups["over"]:
        parts.append("over-confident, so scaling flattens their probabilities (T > 1): " + ", ".join(groups["over"]))
    if groups["under"]:
        parts.append("under-confident, so scaling sharpens them (T < 1): " + ", ".join(groups["under"]))
    if groups["close"]:
        parts.append(f"within {band} of T = 1, close to calibrated already: " + ", ".join(groups["close"]))
    return "Read from the fitted temperatures: " + "; ".join(parts) + "."
