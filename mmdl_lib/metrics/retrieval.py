"""Recall@K for retrieval (chapter 01).

``similarity[q, g]`` scores query ``q`` against gallery item ``g``; ``positives[q, g]`` marks the
ground-truth pairs. A query counts as a hit at K when any positive is among its top K (ties are
broken by the gallery index, a stable sort, so a score shared with a negative never helps).
"""

from __future__ import annotations

import numpy as np


def recall_at_k(similarity: np.ndarray, positives: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, np.ndarray]:
    """Per-query hits at each K (booleans); average them for the Recall@K."""
    similarity, positives = np.asarray(similarity, dtype=np.float64), np.asarray(positives, dtype=bool)
    if similarity.shape != positives.shape:
        raise ValueError(f"similarity {similarity.shape} and positives {positives.shape} differ in shape")
    if not positives.any(axis=1).all():
        raise ValueError("every query needs at least one positive")
    # rank of the best-ranked positive of each query (0 = top)
    order = np.argsort(-similarity, axis=1, kind="stable")
    ranked_positive = np.take_along_axis(positives, order, axis=1)
    first_hit = ranked_positive.argmax(axis=1)
    return {k: first_hit < k for k in ks}


def retrieval_report(image_emb: np.ndarray, text_emb: np.ndarray, caption_ids: np.ndarray, small: np.ndarray,
                     query_small: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K text→region and region→text, overall and by object size.

    ``text_emb`` has one row per distinct caption; ``caption_ids[i]`` is region ``i``'s caption;
    ``query_small[c]`` says whether caption ``c`` describes a small object.
    """
    sim = image_emb @ text_emb.T  # regions × captions
    positives = caption_ids[:, None] == np.arange(len(text_emb))[None, :]
    used = positives.any(axis=0)
    t2r = recall_at_k(sim.T[used], positives.T[used], ks)
    r2t = recall_at_k(sim, positives, ks)
    report: dict[str, float] = {}
    for k in ks:
        report[f"t2r_R@{k}"] = float(t2r[k].mean())
        report[f"r2t_R@{k}"] = float(r2t[k].mean())
        for name, mask_t, mask_r in (("small", query_small[used], small), ("large", ~query_small[used], ~small)):
            if mask_t.any():
                report[f"t2r_R@{k}_{name}"] = float(t2r[k][mask_t].mean())
            if mask_r.any():
                report[f"r2t_R@{k}_{name}"] = float(r2t[k][mask_r].mean())
    return report


def chance_recall(positives: np.ndarray, k: int) -> float:
    """Expected Recall@K of a random ranking: 1 − C(n−p, K) / C(n, K) averaged over queries."""
    positives = np.asarray(positives, dtype=bool)
    n = positives.shape[1]
    p = positives.sum(axis=1)
    miss = np.ones(len(p))
    for j in range(min(k, n)):  # K ≥ n retrieves everything: no term with n − j = 0
        miss *= np.clip((n - p - j) / (n - j), 0, 1)
    return float((1 - miss).mean())


def chance_report(caption_ids: np.ndarray, n_captions: int, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K of a random ranking in both directions (regions ``caption_ids``, ``n_captions``
    distinct captions), keyed like :func:`retrieval_report`: the floor every model must beat."""
    positives = np.asarray(caption_ids)[:, None] == np.arange(n_captions)[None, :]
    out = {}
    for k in ks:
        out[f"t2r_R@{k}"] = chance_recall(positives.T[positives.any(axis=0)], k)
        out[f"r2t_R@{k}"] = chance_recall(positives, k)
    return out


def region_retrieval_report(image_emb, text_emb, regions, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """:func:`retrieval_report` of embeddings of a region-caption set (chapter 01's ``COCORegionTextDataset``)."""
    return retrieval_report(np.asarray(image_emb), np.asarray(text_emb), regions.caption_ids, regions.small,
                            regions.caption_is_small, ks)


def region_chance_report(regions, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K of a random ranking on a region-caption set, the floor every model must beat."""
    return chance_report(regions.caption_ids, len(regions.captions), ks)
