"""Region crops of COCO 2017 with a caption each (chapter 01).

Every annotated object becomes a square crop with some context, labelled *small* (area < 32²,
COCO's bucket) or *large*, and captioned "a small red car". The colour comes from the instance's
``attributes`` (the synthetic world writes it); real COCO has none, so there the colour is taken
from the image's captions when exactly one colour word precedes the category's name and the
image holds only one object of that category; otherwise the caption names size and class only.

Crops use a minimum window (``min_window`` pixels of the original image), so a small object stays
small inside its crop: the size word can be seen, not only read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataFormatError
from ..io import read_json, require_field
from ..progress import tqdm
from .validation import clip_to_image, finite_numbers, image_header_size, open_image, same_size, unique

READS = ("COCORegionTextDataset",)

COLOR_WORDS = ("red", "blue", "green", "yellow", "white", "black", "silver", "orange", "gray", "grey", "brown", "pink",
               "purple")
PEOPLE = ("person",)


def region_caption(category: str, small: bool, color: str | None) -> str:
    size = "small" if small else "large"
    if category in PEOPLE:
        return f"a {size} person in {color}" if color else f"a {size} person"
    return f"a {size} {color} {category}" if color else f"a {size} {category}"


def color_from_captions(captions: list[str], noun: str) -> str | None:
    found = {c for text in captions for c in COLOR_WORDS
             if re.search(rf"\b{c} {re.escape(noun)}s?\b", text.lower())}
    return found.pop() if len(found) == 1 else None


def get_augmented_transform(image_size: int, strong: bool = True) -> A.Compose:
    """Albumentations pipeline for region crops; returns float images in [0, 1].

    No hue or colour-channel changes: the captions name colours, and a red car turned blue would
    teach the student a wrong caption.
    """
    if not strong:
        return A.Compose([A.Resize(image_size, image_size), A.ToFloat(max_value=255)])
    return A.Compose([
        A.RandomResizedCrop(size=(image_size, image_size), scale=(0.8, 1.0), ratio=(0.9, 1.1)),
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.7),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3)), A.GaussNoise(std_range=(0.02, 0.05))], p=0.3),
        A.ToFloat(max_value=255),
    ])


@dataclass
class Region:
    image_file: Path
    bbox: tuple[float, float, float, float]
    category: str
    small: bool
    caption: str
    image_size: tuple[int, int]  # (width, height) the annotation file says


@dataclass
class RegionReport:
    """What was skipped while reading the annotations, shown by the chapter."""

    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    overhanging: int = 0  # kept boxes reaching a little past the image border (the crop pads them)


class COCORegionTextDataset(Dataset):
    """(crop, caption index) pairs from ``root/annotations/instances_{split}2017.json``.

    Crowd annotations and boxes under ``min_box`` pixels a side are skipped (and counted in
    :attr:`report`); a missing image is an error naming the file. ``preload`` crops everything
    once (fast epochs on small sets); otherwise crops are read on the fly.
    """

    def __init__(self, root: str | Path, split: str = "train", image_size: int = 224, context: float = 0.25,
                 min_window: int = 48, min_box: float = 4.0, transform: A.Compose | None = None,
                 preload: bool = False, max_regions: int | None = None):
        self.root = Path(root)
        self.image_size, self.context, self.min_window = image_size, context, min_window
        self.transform = transform or get_augmented_transform(image_size, strong=False)
        self.report = RegionReport()
        self.regions = self._read(split, min_box, max_regions)
        if not self.regions:
            raise DataFormatError(self.root / "annotations" / f"instances_{split}2017.json",
                                  f"no usable regions in split {split!r} (skipped: {dict(self.report.skipped)})")
        self.captions = sorted({r.caption for r in self.regions})
        self.caption_index = {c: i for i, c in enumerate(self.captions)}
        self._crops = [self.crop(i) for i in tqdm(range(len(self)), desc=f"crop {split}")] if preload else None

    def _read(self, split: str, min_box: float, max_regions: int | None) -> list[Region]:
        path = self.root / "annotations" / f"instances_{split}2017.json"
        data = read_json(path)
        image_list = require_field(data, "images", path, list)
        unique([require_field(im, "id", path, int) for im in image_list], path, "images.id")
        images = {im["id"]: im for im in image_list}
        for im in image_list:
            for key in ("width", "height"):
                if not isinstance(im.get(key), int) or isinstance(im.get(key), bool) or im[key] <= 0:
                    raise DataFormatError(path, f"image {im['id']}: {key} must be a positive integer, "
                                                f"got {im.get(key)!r}", key)
        categories = require_field(data, "categories", path, list)
        unique([require_field(c, "id", path, int) for c in categories], path, "categories.id")
        names = {c["id"]: require_field(c, "name", path, str) for c in categories}
        annotations = require_field(data, "annotations", path, list)
        unique([require_field(a, "id", path, int) for a in annotations], path, "annotations.id")
        captions = self._captions(split)
        per_image = Counter((a.get("image_id"), a.get("category_id")) for a in annotations)
        regions = []
        for ann in annotations:
            box = require_field(ann, "bbox", path, list)
            if len(box) != 4:
                raise DataFormatError(path, f"annotation {ann['id']}: expected [x, y, w, h], got {box!r}", "bbox")
            x, y, w, h = finite_numbers(box, path, f"bbox of annotation {ann['id']}")
            if w < 0 or h < 0:
                raise DataFormatError(path, f"annotation {ann['id']}: negative size in {box}", "bbox")
            category = names.get(require_field(ann, "category_id", path, int))
            if category is None:
                raise DataFormatError(path, f"annotation {ann.get('id')} has unknown category_id {ann['category_id']}",
                                      "category_id")
            image = images.get(require_field(ann, "image_id", path, int))
            if image is None:
                raise DataFormatError(path, f"annotation {ann.get('id')} points at missing image id {ann['image_id']}",
                                      "image_id")
            if ann.get("iscrowd", 0):
                self.report.skipped["crowd"] += 1
                continue
            if w < min_box or h < min_box:
                self.report.skipped["too small or zero-area box"] += 1
                continue
            _, overhangs = clip_to_image(box, image["width"], image["height"], path, "bbox",
                                         f"annotation {ann['id']}")
            if overhangs:  # kept whole: the crop pads what lies outside
                self.report.overhanging += 1
            attributes = ann.get("attributes") or {}
            if not isinstance(attributes, dict):
                raise DataFormatError(path, f"annotation {ann['id']}: expected an object, got {attributes!r:.40}",
                                      "attributes")
            color = attributes.get("color")
            if color is not None and not isinstance(color, str):
                raise DataFormatError(path, f"annotation {ann['id']}: expected a colour name, got {color!r}",
                                      "attributes.color")
            if color is None and per_image[(ann["image_id"], ann["category_id"])] == 1:
                texts = captions.get(ann["image_id"])
                if texts is None:
                    self.report.skipped["colour unknown: image without captions"] += 1
                else:
                    color = color_from_captions(texts, category)
            area = finite_numbers([ann.get("area", w * h)], path, f"area of annotation {ann['id']}")[0]
            file = self.root / f"{split}2017" / require_field(image, "file_name", path, str)
            regions.append(Region(file, (x, y, w, h), category, area < 32**2, region_caption(category, area < 32**2,
                                                                                               color),
                                  (image["width"], image["height"])))
            if max_regions and len(regions) >= max_regions:
                break
        missing = sorted({str(r.image_file) for r in regions if not r.image_file.is_file()})
        if missing:
            raise DataFormatError(missing[0], f"image not found ({len(missing)} missing in split {split!r})")
        sizes = {r.image_file: r.image_size for r in regions}  # the header alone: no decoding here
        for file, size in sizes.items():
            same_size(file, image_header_size(file, "width/height"), size, "the annotation says", "width/height")
        self.report.kept = len(regions)
        return regions

    def _captions(self, split: str) -> dict[int, list[str]]:
        path = self.root / "annotations" / f"captions_{split}2017.json"
        if not path.exists():
            return {}
        texts: dict[int, list[str]] = {}
        for ann in require_field(read_json(path), "annotations", path, list):
            texts.setdefault(require_field(ann, "image_id", path, int), []).append(
                require_field(ann, "caption", path, str))
        return texts

    def __len__(self) -> int:
        return len(self.regions)

    def crop(self, index: int) -> np.ndarray:
        """The square context crop of region ``index`` at ``image_size`` (uint8 HWC)."""
        region = self.regions[index]
        image = open_image(region.image_file, size=region.image_size, field="width/height").convert("RGB")
        x, y, w, h = region.bbox
        side = max(max(w, h) * (1 + 2 * self.context), self.min_window)
        cx, cy = x + w / 2, y + h / 2
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        # PIL pads outside the image with black, like a camera border
        return np.asarray(image.crop(tuple(int(round(v)) for v in box)).resize((self.image_size,) * 2,
                                                                                 Image.BILINEAR))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        crop = self._crops[index] if self._crops is not None else self.crop(index)
        # albumentations 2 draws from its own generator, which no global seed reaches; reseed it from
        # torch's, which the trainer seeds every epoch and each DataLoader worker differently
        self.transform.set_random_seed(int(torch.randint(2**31 - 1, ()).item()))
        image = self.transform(image=crop)["image"]
        return {"image": torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float(),
                "caption": self.caption_index[self.regions[index].caption], "index": index}

    @property
    def caption_is_small(self) -> np.ndarray:
        """Per distinct caption: does it describe a small object ("a small red car")?"""
        return np.array([c.split()[1] == "small" for c in self.captions])

    @property
    def small(self) -> np.ndarray:
        return np.array([r.small for r in self.regions])

    @property
    def caption_ids(self) -> np.ndarray:
        return np.array([self.caption_index[r.caption] for r in self.regions])


class PlainRegionCrops(Dataset):
    """The crops of a region dataset without augmentation, as tensors (teacher targets, evaluation)."""

    def __init__(self, dataset: COCORegionTextDataset):
        self.dataset = dataset
        self.transform = get_augmented_transform(dataset.image_size, strong=False)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        crop = self.dataset._crops[index] if self.dataset._crops is not None else self.dataset.crop(index)
        return torch.from_numpy(self.transform(image=crop)["image"]).permute(2, 0, 1).float()

    def batch(self, n: int) -> torch.Tensor:
        """``n`` crops stacked, cycling through the dataset when it has fewer: real inputs for chapter
        01's ONNX parity check and latency runs."""
        return torch.stack([self[i % len(self)] for i in range(n)])
