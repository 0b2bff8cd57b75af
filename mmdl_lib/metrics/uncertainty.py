"""How sure a comparison is: a paired bootstrap over evaluation items, the spread over seeds, and the
sentence a chapter prints after a comparison, computed from them.

- :func:`paired_bootstrap`: two models scored on the *same* items (commands, crops, images); the
  items are resampled with replacement, both scores recomputed on each resample, and the percentile
  interval of the difference is its confidence interval. Pass ``groups`` to resample whole groups
  (the pixels of one image) rather than items.
- :func:`seed_comparison`: two methods trained once per seed; the mean difference over seeds with a
  Student-t interval (paired by seed when both ran the same seeds).
- :meth:`Comparison.verdict`: "A beats B by x [CI]", "A and B cannot be told apart on this data", or
  "B beats A …", decided by whether the interval excludes zero — never by the point estimate alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats

Score = Callable[[np.ndarray], float]  # a metric of the items at these indices (with repeats)


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against method ``b`` on one metric: both scores, their difference ``a − b`` and its
    interval, and how the interval was made."""

    a: str
    b: str
    metric: str
    score_a: float
    score_b: float
    difference: float
    low: float
    high: float
    confidence: float
    method: str  # "paired bootstrap over N items", "t over N seeds", …
    higher_is_better: bool = True

    @property
    def winner(self) -> str | None:
        """The better method when the interval excludes zero, else None (they cannot be told apart)."""
        if self.low > 0:
            return self.a if self.higher_is_better else self.b
        if self.high < 0:
            return self.b if self.higher_is_better else self.a
        return None

    def verdict(self, digits: int = 3) -> str:
        """One sentence that says which method won, computed from the interval. The scores follow the
        order of the names in the sentence (the winner's first); the difference is always ``a − b``."""
        interval = (f"{self.a} − {self.b} = {self.difference:+.{digits}f} [{self.low:+.{digits}f}, "
                    f"{self.high:+.{digits}f}], {self.confidence:.0%} interval, {self.method}")
        if self.winner is None:
            return (f"{self.a} and {self.b} cannot be told apart on {self.metric} with this data: "
                    f"{self.score_a:.{digits}f} against {self.score_b:.{digits}f} ({interval}).")
        winner_first = self.winner == self.a
        loser = self.b if winner_first else self.a
        scores = (self.score_a, self.score_b) if winner_first else (self.score_b, self.score_a)
        return (f"{self.winner} beats {loser} on {self.metric}: {scores[0]:.{digits}f} against "
                f"{scores[1]:.{digits}f} ({interval}).")

    def to_dict(self) -> dict[str, object]:
        """What a run record keeps of the comparison (the verdict included)."""
        return {**asdict(self), "winner": self.winner, "verdict": self.verdict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Comparison":
        """The comparison a record kept (:meth:`to_dict`); the derived winner and verdict are recomputed."""
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names if n not in data and n != "higher_is_better")
        if missing:
            raise ValueError(f"a recorded comparison lacks {missing}")
        return cls(**{k: v for k, v in data.items() if k in names})


def comparison_table(comparisons: Mapping[str, "Comparison"], digits: int = 3) -> list[str]:
    """Markdown rows: each comparison's two scores, the difference and its interval, and who won."""
    lines = ["| A vs B | metric | A | B | A − B [CI] | interval from | better |", "|---" * 7 + "|"]
    for c in comparisons.values():
        cells = [f"{c.a} vs {c.b}", c.metric, f"{c.score_a:.{digits}f}", f"{c.score_b:.{digits}f}",
                 f"{c.difference:+.{digits}f} [{c.low:+.{digits}f}, {c.high:+.{digits}f}]", c.method,
                 c.winner or "cannot be told apart"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(low), float(high)


def paired_bootstrap(score_a: Score, score_b: Score, n_items: int, names: tuple[str, str], metric: str,
                     groups: Sequence[int] | np.ndarray | None = None, resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0, higher_is_better: bool = True) -> Comparison:
    """``score_a(indices) − score_b(indices)`` over bootstrap resamples of the ``n_items`` shared items.

    ``score_a`` and ``score_b`` compute a metric from the items at ``indices`` (an int array, repeats
    allowed): for a mean of per-item hits, ``lambda i: hits_a[i].mean()``; for AP, the AP of those
    items' scores and labels. With ``groups`` (one group id per item), whole groups are resampled.
    """
    if n_items < 1:
        raise ValueError("a paired bootstrap needs at least one item")
    everything = np.arange(n_items)
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = (rng.integers(0, n_items, size=n_items) for _ in range(resamples))
        unit = f"{n_items} items"
    else:
        groups = np.asarray(groups)
        if len(groups) != n_items:
            raise ValueError(f"groups has {len(groups)} entries for {n_items} items")
        members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        draws = (np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))])
                 for _ in range(resamples))
        unit = f"{len(members)} groups of items"
    differences = np.array([score_a(idx) - score_b(idx) for idx in draws])
    a, b = float(score_a(everything)), float(score_b(everything))
    low, high = _percentile_interval(differences, confidence)
    return Comparison(names[0], names[1], metric, a, b, a - b, low, high, confidence,
                      f"paired bootstrap over {unit}", higher_is_better)


def mean_difference(hits_a: Sequence[float], hits_b: Sequence[float], names: tuple[str, str], metric: str,
                    **kwargs) -> Comparison:
    """:func:`paired_bootstrap` of a metric that is the mean of per-item values (accuracy, hit rate, IoU)."""
    a, b = np.asarray(hits_a, dtype=float), np.asarray(hits_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired items must match: {a.shape} against {b.shape}")
    return paired_bootstrap(lambda i: a[i].mean(), lambda i: b[i].mean(), len(a), names, metric, **kwargs)


def seed_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation and count of one method's scores over seeds."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "n": int(len(array))}


def seed_comparison(values_a: Sequence[float], values_b: Sequence[float], names: tuple[str, str], metric: str,
                    paired: bool = True, confidence: float = 0.95, higher_is_better: bool = True) -> Comparison:
    """Mean ``a − b`` over seeds with a Student-t interval: of the per-seed differences when ``paired``
    (both trained with the same seeds, in the same order), else Welch's for two independent samples."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    if min(len(a), len(b)) < 2:
        raise ValueError("a spread over seeds needs at least two seeds per method")
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired seeds must match: {len(a)} against {len(b)}")
        d = a - b
        half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        method = f"t over {len(d)} paired seeds"
    else:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb > 0 else 1.0
        half = stats.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(va + vb)
        method = f"Welch t over {len(a)} and {len(b)} seeds"
    difference = float(a.mean() - b.mean())
    return Comparison(names[0], names[1], metric, float(a.mean()), float(b.mean()), difference,
                      difference - float(half), difference + float(half), confidence, method, higher_is_better)
