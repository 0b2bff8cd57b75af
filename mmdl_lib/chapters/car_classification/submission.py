"""What chapter 06 hands in and hands on: the top-K generator (each image's K most probable classes,
for hints and for reading) and the run's output files (:func:`write_outputs`).

The seed's ``teammate_topk_generator`` handed these lists to the VLM's hybrid prompt; they are also
written as a CSV (``ID, rank, class, probability``) so that predictions can be inspected.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...data.hecto_cars import CarSplit, write_submission
from ...io import atomic_write


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


def write_outputs(folder: Path, split: CarSplit, probs: dict[str, np.ndarray], top_k: int) -> dict[str, str]:
    """The submission (``sample_submission.csv``'s header and row order) and the test top-K file (chapter 06)."""
    data = split.data
    submission = write_submission(folder / "submission.csv", probs["test"], data)
    topk = write_topk_csv(folder / "test_topk.csv", data.test_ids, topk_lists(probs["test"], data.classes, top_k))
    return {"submission": str(submission), "topk": str(topk)}
