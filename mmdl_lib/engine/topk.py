"""The top-K generator (chapter 06): each image's K most probable classes, for hints and for reading.

The seed's ``teammate_topk_generator`` handed these lists to the VLM's hybrid prompt; they are also
written as a CSV (``ID, rank, class, probability``) so that predictions can be inspected.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..io import atomic_write


def topk_indices(probabilities: np.ndarray, k: int) -> np.ndarray:
    """(n, k) class indices, most probable first (ties: lower index first)."""
    order = np.argsort(-np.asarray(probabilities), axis=1, kind="stable")
    return order[:, :k]


def topk_lists(probabilities: np.ndarray, classes: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, ``[(class name, probability), …]`` for its top ``k`` classes."""
    probabilities = np.asarray(probabilities)
    return [[(classes[c], float(probabilities[i, c])) for c in row]
            for i, row in enumerate(topk_indices(probabilities, k))]


def write_topk_csv(path: str | Path, ids: list[str], lists: list[list[tuple[str, float]]]) -> Path:
    rows = [["ID", "rank", "class", "probability"]]
    rows += [[ident, rank + 1, name, f"{p:.6f}"] for ident, top in zip(ids, lists) for rank, (name, p) in enumerate(top)]

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)

    return atomic_write(path, write)
