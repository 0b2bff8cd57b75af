"""Chapter 01's comparisons with their uncertainty: per-query retrieval hits, the paired bootstrap of
one student against another (or the teacher) over the validation queries, and the answer to "which
loss does the work?" read from those intervals.

Text→region Recall@K is the mean over the distinct validation captions of "a region with this caption
is among the top K"; region→text over the validation regions of "the region's caption is among its
top K captions" (as :func:`~mmdl_lib.metrics.retrieval.retrieval_report`). Both models are scored on
the same queries, so the bootstrap resamples queries and recomputes both recalls on each resample.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...metrics.retrieval import recall_at_k
from ...metrics.uncertainty import Comparison, mean_difference

DIRECTIONS = {"t2r": "text→region", "r2t": "region→text"}


def retrieval_hits(image_emb, text_emb, caption_ids: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, np.ndarray]:
    """Per-query hits keyed like the retrieval report (``"t2r_R@1"``: one boolean per distinct caption
    that some region carries; ``"r2t_R@1"``: one per region); their means are the report's recalls."""
    image_emb, text_emb = np.asarray(image_emb, dtype=np.float64), np.asarray(text_emb, dtype=np.float64)
    sim = image_emb @ text_emb.T  # regions × captions
    positives = np.asarray(caption_ids)[:, None] == np.arange(len(text_emb))[None, :]
    used = positives.any(axis=0)
    t2r = recall_at_k(sim.T[used], positives.T[used], tuple(ks))
    r2t = recall_at_k(sim, positives, tuple(ks))
    return {**{f"t2r_R@{k}": t2r[k] for k in ks}, **{f"r2t_R@{k}": r2t[k] for k in ks}}


def metric_name(key: str) -> str:
    """``"t2r_R@1"`` → ``"text→region R@1"``."""
    direction, k = key.split("_")
    return f"{DIRECTIONS[direction]} {k}"


def compare_hits(hits: Mapping[str, Mapping[str, np.ndarray]], a: str, b: str, keys: Sequence[str],
                 resamples: int = 2000, seed: int = 0) -> dict[str, Comparison]:
    """``a`` against ``b`` on each recall in ``keys``: a paired bootstrap over the shared queries of
    the per-query hits (``hits[name][key]``). Keyed ``"<a> vs <b> · <key>"``."""
    return {f"{a} vs {b} · {key}": mean_difference(hits[a][key], hits[b][key], (a, b), metric_name(key),
                                                   resamples=resamples, seed=seed)
            for key in keys}


def ablation_answer(comparisons: Mapping[str, Comparison], main: str = "all three") -> str:
    """Which loss does the work, read from the main student's comparisons with each single loss:
    per rival, the metrics the combination wins, ties and loses; then one closing sentence."""
    by_rival: dict[str, dict[str, list[str]]] = {}
    for c in comparisons.values():
        rival = c.b if c.a == main else c.a
        outcome = "tie" if c.winner is None else ("win" if c.winner == main else "loss")
        by_rival.setdefault(rival, {"win": [], "tie": [], "loss": []})[outcome].append(c.metric)
    lines = []
    for rival, outcome in by_rival.items():
        parts = [f"{words} on {', '.join(outcome[kind])}" for kind, words in
                 (("win", "beats it"), ("tie", "cannot be told apart from it"), ("loss", "loses to it"))
                 if outcome[kind]]
        lines.append(f"Against {rival}, {main} " + "; ".join(parts) + ".")
    won_everywhere = [r for r, o in by_rival.items() if not o["tie"] and not o["loss"]]
    not_beaten = [r for r, o in by_rival.items() if not o["win"]]
    beats_main = [r for r, o in by_rival.items() if o["loss"]]
    if beats_main:
        closing = (f"So the combination is not the best loss here: {', '.join(beats_main)} beats it on at least one "
                   "metric.")
    elif len(won_everywhere) == len(by_rival):
        closing = "So the combination does the work: it beats every loss alone on every metric compared."
    elif not_beaten:
        closing = (f"So this run cannot say that the combination does more than {', '.join(not_beaten)}: on no "
                   "metric compared is the difference outside its interval.")
    else:
        closing = ("So the combination beats every loss alone on some metrics and cannot be told apart from it on "
                   "others.")
    return " ".join(lines + [closing])


def ablation_reason(hits: Mapping[str, Mapping[str, np.ndarray]], comparisons: Mapping[str, Comparison],
                    main: str = "all three", teacher: str = "teacher") -> str | None:
    """When the combination ties with or loses to a loss alone: what the run itself measures about
    why — how many queries decide each direction (one query's weight in a recall) and the widest
    interval — and how far the teacher, which two of the three losses copy, gets on the same queries."""
    if all(c.winner == main for c in comparisons.values()):
        return None
    n_t2r, n_r2t = len(hits[main]["t2r_R@1"]), len(hits[main]["r2t_R@1"])
    widest = max(comparisons.values(), key=lambda c: c.high - c.low)
    teacher_part = ""
    if teacher in hits:
        t, s = hits[teacher]["t2r_R@1"], hits[main]["t2r_R@1"]
        teacher_part = (f" The teacher itself reaches text→region R@1 {t.mean():.3f} on these queries and the "
                        f"combination's top-1 agrees with the teacher's hit or miss on {np.mean(t == s):.0%} of them: "
                        "a likely reading (not measured separately) is that L_sim and L_cos copy the teacher, its "
                        "misses included, while L_clip alone learns the ground-truth caption pairs that the "
                        "recalls score.")
    ties = [c for c in comparisons.values() if c.winner is None]
    tie_part = (f"; the largest difference that stays inside its interval is {max(abs(c.difference) for c in ties):.3f}"
                if ties else "")
    return (f"Measured reason: text→region rests on {n_t2r} distinct captions (one query is {1 / n_t2r:.3f} of a "
            f"recall) and region→text on {n_r2t} regions; the widest interval ({widest.a} vs {widest.b}, "
            f"{widest.metric}) spans {widest.high - widest.low:.3f}{tie_part}.{teacher_part}")
