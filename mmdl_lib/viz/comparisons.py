"""Comparisons as a reader sees them: the table of differences with their intervals, the computed
verdicts under it, and an error-bar chart (every chapter after its comparison tables; the results page)."""

from __future__ import annotations

import textwrap
from typing import Any, Mapping

import matplotlib.pyplot as plt

from ..metrics.uncertainty import Comparison, comparison_table


def as_comparisons(comparisons: Mapping[str, Comparison | Mapping[str, Any]]) -> dict[str, Comparison]:
    """Comparisons given as objects or as a record's dicts (``metrics["comparisons"]``)."""
    return {key: c if isinstance(c, Comparison) else Comparison.from_dict(c) for key, c in comparisons.items()}


def comparisons_markdown(comparisons: Mapping[str, Comparison | Mapping[str, Any]], table: bool = True) -> str:
    """The table (optional) and one computed verdict per comparison, as Markdown."""
    found = as_comparisons(comparisons)
    lines = comparison_table(found) + [""] if table else []
    return "\n".join(lines + [f"- {c.verdict()}" for c in found.values()])


def show_comparisons(comparisons: Mapping[str, Comparison | Mapping[str, Any]], table: bool = True):
    """:func:`comparisons_markdown` as a notebook output (the last expression of a cell)."""
    from IPython.display import Markdown

    return Markdown(comparisons_markdown(comparisons, table))


def plot_comparisons(comparisons: Mapping[str, Comparison | Mapping[str, Any]], ax: plt.Axes | None = None,
                     title: str | None = None) -> plt.Figure:
    """Each difference ``A − B`` with its interval as an error bar around zero; a bar that does not
    cross the dashed line is a win (for a lower-is-better metric, left of it is A's win)."""
    found = list(as_comparisons(comparisons).values())[::-1]
    labels = [textwrap.fill(f"{c.a} − {c.b}", 44) + f"\n({c.metric}{', lower is better' if not c.higher_is_better else ''})"
              for c in found]
    if ax is None:
        lines = sum(label.count("\n") + 1 for label in labels)
        _, ax = plt.subplots(figsize=(7.6, 0.13 * lines + 0.12 * len(found) + 1.0))
    y = range(len(found))
    colours = ["#4c72b0" if c.winner is None else ("#55a868" if c.winner == c.a else "#c44e52") for c in found]
    for row, (c, colour) in enumerate(zip(found, colours)):
        ax.errorbar([c.difference], [row], xerr=[[c.difference - c.low], [c.high - c.difference]], fmt="o",
                    color=colour, capsize=3, markersize=4)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=0.8)
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.set_xlabel("A − B with its 95 % interval\ngreen: A better · red: B better · blue: cannot be told apart",
                  fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.figure.tight_layout()
    return ax.figure
