"""The Hecto car-classification layout (Dacon 2025) for chapter 06: reader, folds, image tensors, submission.

``train/<class_name>/*.jpg``, ``test/*.jpg`` + ``test.csv`` (``ID,img_path``) and
``sample_submission.csv`` (``ID`` + one probability column per class, the column order a
submission must keep). Five pairs of class names show the same car model and the competition
scores each pair as one class (:data:`HECTO_DUPLICATE_PAIRS`, from the organisers' announcement);
the synthetic world lists its own pair in ``duplicate_classes.json``.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataFormatError
from ..io import atomic_write, read_json
from ..progress import tqdm
from .validation import open_image, unique

READS = ("HectoCars", "CarImages", "load_image")

# Dacon talkboard 413868: each pair "is considered the same class when scored".
HECTO_DUPLICATE_PAIRS = (
    ("K5_3세대_하이브리드_2020_2022", "K5_하이브리드_3세대_2020_2023"),
    ("디_올뉴니로_2022_2025", "디_올_뉴_니로_2022_2025"),
    ("718_박스터_2017_2024", "박스터_718_2017_2024"),
    ("RAV4_2016_2018", "라브4_4세대_2013_2018"),
    ("RAV4_5세대_2019_2024", "라브4_5세대_2019_2024"),
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _read_csv(path: Path, header: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (a byte-order mark dropped); every row as long as the header."""
    if not path.is_file():
        raise DataFormatError(path, "file not found" if not path.exists() else "not a file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = [row for row in csv.reader(f) if row]
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not UTF-8 text (byte {e.start}: {e.reason})") from None
    except (OSError, csv.Error) as e:
        raise DataFormatError(path, f"cannot read the CSV ({e})") from None
    if not rows:
        raise DataFormatError(path, "empty file (expected a header row)")
    if header is not None and rows[0][:len(header)] != header:
        raise DataFormatError(path, f"expected the header to start with {header}, got {rows[0][:len(header)]}")
    if len(rows) == 1:
        raise DataFormatError(path, "no rows after the header")
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(rows[0]):
            raise DataFormatError(path, f"line {n}: {len(row)} columns, the header has {len(rows[0])}")
    return rows[0], rows[1:]


@dataclass
class HectoCars:
    """The dataset's files, checked: classes, training images, test images, submission columns."""

    root: Path
    classes: list[str]
    train_paths: list[Path]
    train_labels: np.ndarray
    test_ids: list[str]
    test_paths: list[Path]
    submission_columns: list[str]
    duplicate_pairs: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, root: str | Path) -> "HectoCars":
        root = Path(root)
        train = root / "train"
        if not train.is_dir():
            raise DataFormatError(train, "training folder not found (expected train/<class_name>/*.jpg)")
        classes = sorted(p.name for p in train.iterdir() if p.is_dir())
        if not classes:
            raise DataFormatError(train, "no class folders")
        paths, labels = [], []
        for index, name in enumerate(classes):
            images = sorted(p for p in (train / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise DataFormatError(train / name, "class folder without images")
            paths += images
            labels += [index] * len(images)
        header, rows = _read_csv(root / "test.csv", ["ID", "img_path"])
        test_ids = [row[0] for row in rows]
        unique(test_ids, root / "test.csv", "ID")
        test_paths = [root / row[1] for row in rows]
        for ident, path in zip(test_ids, test_paths):
            if not path.is_file():
                raise DataFormatError(root / "test.csv", f"row {ident}: image {path} not found", "img_path")
        columns, _ = _read_csv(root / "sample_submission.csv", ["ID"])
        if sorted(columns[1:]) != classes:
            extra, missing = sorted(set(columns[1:]) - set(classes)), sorted(set(classes) - set(columns[1:]))
            raise DataFormatError(root / "sample_submission.csv", f"class columns differ from train/ folders "
                                  f"(only in the CSV: {extra[:5]}, only in train/: {missing[:5]})", "columns")
        return cls(root, classes, paths, np.asarray(labels), test_ids, test_paths, columns[1:],
                   _duplicate_pairs(root, classes))

    def duplicate_index_pairs(self) -> list[tuple[int, int]]:
        return [(self.classes.index(a), self.classes.index(b)) for a, b in self.duplicate_pairs]

    def test_answers(self) -> np.ndarray | None:
        """Labels of the test images where they are known (the synthetic ``test_answers.csv``)."""
        path = self.root / "test_answers.csv"
        if not path.exists():
            return None
        _, rows = _read_csv(path, ["ID", "label"])
        answers = dict(rows)
        missing = [i for i in self.test_ids if i not in answers]
        if missing:
            raise DataFormatError(path, f"no label for {missing[:3]}", "ID")
        unknown = sorted({answers[i] for i in self.test_ids} - set(self.classes))
        if unknown:
            raise DataFormatError(path, f"labels that are no class: {unknown[:3]}", "label")
        return np.asarray([self.classes.index(answers[i]) for i in self.test_ids])


def _duplicate_pairs(root: Path, classes: list[str]) -> list[tuple[str, str]]:
    """The sidecar's pairs (synthetic world), else the real competition's pairs present here."""
    sidecar = root / "duplicate_classes.json"
    if sidecar.exists():
        listed = read_json(sidecar)
        if not isinstance(listed, list) or not all(isinstance(pair, list) for pair in listed):
            raise DataFormatError(sidecar, f"expected a list of [class, class] pairs, got {str(listed)[:60]}")
        for pair in listed:
            if len(pair) != 2 or not all(isinstance(name, str) for name in pair) or not set(pair) <= set(classes):
                raise DataFormatError(sidecar, f"{pair} is not a pair of class folders")
        return [tuple(pair) for pair in listed]
    return [pair for pair in HECTO_DUPLICATE_PAIRS if set(pair) <= set(classes)]


def stratified_fold(labels: np.ndarray, n_folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices of fold ``fold`` of a stratified ``n_folds``-fold split."""
    from sklearn.model_selection import StratifiedKFold

    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold} is not in 0..{n_folds - 1}")
    largest = int(np.bincount(labels).max()) if len(labels) else 0
    if largest < n_folds:
        raise ValueError(f"n_folds {n_folds}: a stratified split needs a class with at least that many training "
                         f"images; the largest has {largest}")
    splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)
    return list(splits)[fold]


def load_image(path: Path, size: int) -> torch.Tensor:
    """``(3, size, size)`` in [0, 1]; an unreadable file is named."""
    array = np.asarray(open_image(path).convert("RGB").resize((size, size), Image.BILINEAR))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


class CarImages(Dataset):
    """``{"image", "label", "index"}`` for a list of images; ``preload`` keeps them in memory (smoke)."""

    def __init__(self, paths: list[Path], labels: np.ndarray | None, size: int, augment: bool = False,
                 preload: bool = False):
        self.paths, self.size, self.augment = list(paths), size, augment
        self.labels = np.full(len(self.paths), -1) if labels is None else np.asarray(labels)
        self.images = torch.stack([load_image(p, size) for p in tqdm(self.paths, desc="load cars")]) if preload else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        image = self.images[index] if self.images is not None else load_image(self.paths[index], self.size)
        if self.augment:  # a mirrored car is the same model; small shifts stand in for framing
            if torch.rand(()) < 0.5:
                image = image.flip(-1)
            shift = self.size // 16
            if shift:
                dx, dy = (int(v) for v in torch.randint(-shift, shift + 1, (2,)))
                image = torch.roll(image, (dy, dx), dims=(1, 2))
        return {"image": image, "label": int(self.labels[index]), "index": index}

    def image_view(self) -> "ImageView":
        return ImageView(self)


class ImageView(Sequence):
    """The images of a :class:`CarImages` as a sequence, each read when it is indexed."""

    def __init__(self, dataset: CarImages):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.dataset[index % len(self)]["image"]


@dataclass
class CarSplit:
    """The data, one stratified fold's training and validation indices, and the known test labels."""

    data: HectoCars
    train: np.ndarray  # indices into data.train_paths
    val: np.ndarray
    test_labels: np.ndarray | None  # known only for the synthetic world
    pairs: list[tuple[int, int]]  # duplicate classes, scored as one

    def labels(self, part: str) -> np.ndarray:
        return self.data.train_labels[getattr(self, part)]


def car_image_sets(split: CarSplit, size: int, preload: bool) -> dict[str, CarImages]:
    """Training (augmented), plain training, validation and test images at ``size`` px."""
    paths = split.data.train_paths
    sets = {"train": CarImages([paths[i] for i in split.train], split.labels("train"), size, augment=True,
                               preload=preload)}
    sets["train_plain"] = copy.copy(sets["train"])  # the same (preloaded) images, not augmented
    sets["train_plain"].augment = False
    sets["val"] = CarImages([paths[i] for i in split.val], split.labels("val"), size, preload=preload)
    sets["test"] = CarImages(split.data.test_paths, split.test_labels, size, preload=preload)
    return sets


def write_submission(path: str | Path, probabilities: np.ndarray, data: HectoCars) -> Path:
    """``sample_submission.csv``'s header and ID order, each row normalised to sum to one."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(data.test_ids), len(data.classes)):
        raise ValueError(f"expected probabilities of shape {(len(data.test_ids), len(data.classes))}, "
                         f"got {probabilities.shape}")
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    order = [data.classes.index(name) for name in data.submission_columns]
    _, rows = _read_csv(data.root / "sample_submission.csv", ["ID"])
    row_of = {ident: i for i, ident in enumerate(data.test_ids)}
    lines = [["ID", *data.submission_columns]]
    for row in rows:
        if row[0] not in row_of:
            raise DataFormatError(data.root / "sample_submission.csv", f"ID {row[0]} is not in test.csv", "ID")
        lines.append([row[0], *(f"{p:.8f}" for p in probabilities[row_of[row[0]], order])])

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(lines)

    return atomic_write(path, write)
