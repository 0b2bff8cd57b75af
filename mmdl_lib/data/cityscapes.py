"""Cityscapes (in-distribution) and the road-anomaly benchmarks (out-of-distribution) as they ship,
for chapter 04 (TDOS).

- **Cityscapes**: ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with
  ``gtFine/<split>/<city>/<stem>_gtFine_labelIds.png``; label ids become the 19 train ids through the
  official table of cityscapesScripts (``helpers.labels``), 255 = ignore.
- **OOD sets**, each a list of (image, label) pairs whose labels read 0 in-distribution,
  1 anomaly, 255 void once mapped (:data:`OOD_LAYOUTS`):

  - ``fishyscapes``: Fishyscapes Lost & Found or Static validation, exported from bdlb as
    ``images/<stem>.png`` + ``labels/<stem>.png`` (0 / 1 / 255); the synthetic world writes this layout;
  - ``smiyc_anomaly`` / ``smiyc_obstacle``: SegmentMeIfYouCan's ``dataset_AnomalyTrack`` /
    ``dataset_ObstacleTrack`` with ``images/validation*`` + ``labels_masks/<stem>_labels_semantic.png``
    (0 / 1 / 255). Only the validation images have labels: the test labels are kept by the
    benchmark's server, so the book evaluates on validation;
  - ``road_anomaly``: Road Anomaly's ``frame_list.json``, ``frames/<stem>.jpg`` and
    ``frames/<stem>.labels/labels_semantic.png`` whose values are 0 background, 1 road, 2 anomaly.

Every reader error names the file: a missing folder, label or image (a label whose image is gone),
an image and a label of different sizes (both files named), a label value the layout does not define.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .validation import open_image, read_json, unique

READS = ("cityscapes_pairs", "read_labelled", "read_cityscapes", "ood_pairs", "read_ood")
IGNORE = 255


def _train_id_table() -> tuple[np.ndarray, tuple[str, ...]]:
    from cityscapesscripts.helpers.labels import labels

    table = np.full(256, -1, dtype=np.int16)  # -1: not a Cityscapes label id
    for label in labels:
        if label.id >= 0:
            table[label.id] = label.trainId if 0 <= label.trainId < IGNORE else IGNORE
    names = tuple(label.name for label in sorted((lab for lab in labels if 0 <= lab.trainId < IGNORE),
                                                   key=lambda lab: lab.trainId))
    return table, names


LABEL_ID_TO_TRAIN_ID, CITYSCAPES_CLASSES = _train_id_table()


def to_train_ids(label_ids: np.ndarray, path: str | Path = "<array>") -> np.ndarray:
    """Cityscapes label ids (H, W) → train ids 0..18 and 255; a value that is no label id is an error."""
    label_ids = np.asarray(label_ids)
    mapped = LABEL_ID_TO_TRAIN_ID[np.clip(label_ids, 0, 255)]
    bad = (label_ids > 255) | (label_ids < 0) | (mapped < 0)
    if bad.any():
        raise DataFormatError(path, f"values {np.unique(label_ids[bad])[:10].tolist()} are not Cityscapes label ids "
                                    "(is this a *_gtFine_labelIds.png, not a color or trainIds map?)")
    return mapped.astype(np.uint8)


@dataclass(frozen=True)
class LabelledImage:
    """One image and its label map on disk."""

    image: Path
    label: Path


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataFormatError(path, f"{what} folder not found")
    return path


def cityscapes_pairs(root: str | Path, split: str) -> list[LabelledImage]:
    """Every ``leftImg8bit`` image of ``split`` with its ``gtFine`` label ids, sorted by city and stem."""
    images = _folder(Path(root) / "leftImg8bit" / split, "Cityscapes images")
    labels = Path(root) / "gtFine" / split
    pairs = []
    for image in sorted(images.glob("*/*_leftImg8bit.png")):
        label = labels / image.parent.name / image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        if not label.is_file():
            raise DataFormatError(label, f"label ids of {image.name} not found")
        pairs.append(LabelledImage(image, label))
    if not pairs:
        raise DataFormatError(images, "no <city>/*_leftImg8bit.png image in the split")
    _no_orphan_labels({p.label for p in pairs}, sorted(labels.glob("*/*_gtFine_labelIds.png")),
                      lambda label: images / label.parent.name / label.name.replace("_gtFine_labelIds.png",
                                                                                    "_leftImg8bit.png"))
    return pairs


def _no_orphan_labels(paired: set[Path], labels: list[Path], image_of) -> None:
    """A label whose image is missing: the image was lost, and the split would shrink silently."""
    for label in labels:
        if label not in paired:
            raise DataFormatError(image_of(label), f"image of {label.name} not found")


def read_labelled(pair: LabelledImage) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 (H, W, 3), raw label map (H, W)); an image and label of different sizes is an error."""
    image = np.asarray(open_image(pair.image).convert("RGB"))
    label = open_image(pair.label)
    if label.size != (image.shape[1], image.shape[0]):
        raise DataFormatError(pair.label, f"label map is {label.width}×{label.height}, its image {pair.image.name} "
                                          f"is {image.shape[1]}×{image.shape[0]}", "size")
    label = np.asarray(label)
    if label.ndim != 2:
        raise DataFormatError(pair.label, f"a label map has one channel, this one has shape {label.shape}")
    return image, label


def read_cityscapes(pair: LabelledImage) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, train ids) of one Cityscapes pair."""
    image, label_ids = read_labelled(pair)
    return image, to_train_ids(label_ids, pair.label)


@dataclass(frozen=True)
class OODLayout:
    """Where an OOD benchmark keeps its images and labels, and what its label values mean."""

    images: str  # glob under the root
    label: str  # the label's path under the root, from the image's stem
    values: dict[int, int]  # label value → 0 in-distribution, 1 anomaly, 255 void


OOD_LAYOUTS = {
    "fishyscapes": OODLayout("images/*.png", "labels/{stem}.png", {0: 0, 1: 1, 255: 255}),
    "smiyc_anomaly": OODLayout("images/validation*", "labels_masks/{stem}_labels_semantic.png", {0: 0, 1: 1, 255: 255}),
    "smiyc_obstacle": OODLayout("images/validation*", "labels_masks/{stem}_labels_semantic.png", {0: 0, 1: 1, 255: 255}),
    "road_anomaly": OODLayout("frames/*.jpg", "frames/{stem}.labels/labels_semantic.png", {0: 0, 1: 0, 2: 1}),
}


def ood_pairs(root: str | Path, layout: str) -> list[LabelledImage]:
    """The labelled images of an OOD benchmark in one of :data:`OOD_LAYOUTS`."""
    if layout not in OOD_LAYOUTS:
        raise ValueError(f"unknown OOD layout {layout!r}; choose one of {', '.join(OOD_LAYOUTS)}")
    root, spec = _folder(Path(root), f"{layout} dataset"), OOD_LAYOUTS[layout]
    if layout == "road_anomaly":  # the release lists its frames
        images = [root / "frames" / name for name in _frame_list(root / "frame_list.json")]
    else:
        images = sorted(root.glob(spec.images))
    if not images:
        raise DataFormatError(root, f"no image matches {spec.images} ({layout} layout)")
    pairs = []
    for image in images:
        label = root / spec.label.format(stem=image.stem)
        if not label.is_file():
            raise DataFormatError(label, f"label of {image.name} not found ({layout} layout)")
        pairs.append(LabelledImage(image, label))
    if layout != "road_anomaly":  # the frame list, not the folder, defines Road Anomaly
        _no_orphan_ood_labels(root, spec, {image.stem for image in images})
    return pairs


def _no_orphan_ood_labels(root: Path, spec: OODLayout, stems: set[str]) -> None:
    """A label without its image: the image was lost, and the benchmark would shrink silently."""
    prefix, suffix = spec.label.split("{stem}")
    extension = Path(spec.images).suffix
    extension = extension if extension and "*" not in extension else ".*"
    for label in sorted(root.glob(spec.label.format(stem="*"))):
        name = label.relative_to(root).as_posix()
        stem = name[len(prefix):len(name) - len(suffix)]
        if stem not in stems:
            raise DataFormatError(root / Path(spec.images).parent / f"{stem}{extension}",
                                  f"image of {label.name} not found (no {spec.images} has its stem)")


def _frame_list(path: Path) -> list[str]:
    """Road Anomaly's ``frame_list.json``: a list of distinct frame file names."""
    listed = read_json(path)
    if not isinstance(listed, list) or not all(isinstance(name, str) and name for name in listed):
        raise DataFormatError(path, f"expected a list of frame file names, got {str(listed)[:60]}")
    unique(listed, path, "frame")
    return listed


def read_ood(pair: LabelledImage, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, labels 0 / 1 / 255) of one OOD pair; a value the layout does not define is an error."""
    image, raw = read_labelled(pair)
    values = OOD_LAYOUTS[layout].values
    unknown = np.setdiff1d(np.unique(raw), list(values))
    if unknown.size:
        raise DataFormatError(pair.label, f"label values {unknown[:10].tolist()} are not defined by the {layout} "
                                          f"layout ({sorted(values)})")
    table = np.zeros(256, dtype=np.uint8)
    for value, meaning in values.items():
        table[value] = meaning
    return image, table[raw]


def resized_pair(image: np.ndarray, label: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and label (nearest: values are ids) at ``size`` = (height, width); None keeps them."""
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image, label
    from PIL import Image

    h, w = size
    return (np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR)),
            np.asarray(Image.fromarray(label).resize((w, h), Image.NEAREST)))


class SegmentationPairs:
    """A map-style dataset of (RGB image, label) pairs read by ``reader``, resized to ``size``;
    ``in_memory`` keeps what it has read (the smoke sets are small, the real ones are not)."""

    def __init__(self, pairs: list[LabelledImage], reader, size: tuple[int, int] | None = None,
                 in_memory: bool = False, what: str = "split"):
        if not pairs:
            raise DataFormatError(what, "no image in the split")
        self.pairs, self.reader, self.size, self.in_memory = pairs, reader, size, in_memory
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self._kept:
            return self._kept[index]
        item = resized_pair(*self.reader(self.pairs[index]), self.size)
        if self.in_memory:
            self._kept[index] = item
        return item

    def images(self, indices=None) -> list[np.ndarray]:
        return [self[i][0] for i in (range(len(self)) if indices is None else indices)]

    def labels(self, indices=None) -> list[np.ndarray]:
        return [self[i][1] for i in (range(len(self)) if indices is None else indices)]
