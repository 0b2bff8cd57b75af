"""Talk2Car reader, splits and predictions.json (chapter 02): real release and synthetic world alike.

Yields the image, the command, its ``command_token`` and the referred object's ``2d_box``
``[x, y, w, h]`` normalised to 0–1 by the image's actual size (the real images are 1600×900;
the synthetic ones are whatever the preset renders). One camera took every image of a release, so
every image of the train, val and test splits has the first training image's size: an image of
another size (a resized frame, whose boxes would all be normalised by the wrong size) is an error
naming it and both sizes, never rescaled. The commands file and the image folder are
searched for under ``root`` (the seed's automatic path search), so both the official layout
(``commands/``, ``images/``) and flattened copies work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataFormatError
from ..io import read_json, require_field, write_json
from ..progress import tqdm
from .validation import clip_to_image, finite_numbers, image_header_size, open_image, same_size, unique

READS = ("Talk2CarDataset", "load_talk2car_splits", "read_objects_sidecar", "read_predictions")


def find_commands_file(root: Path, split: str) -> Path:
    name = f"{split}_commands.json"
    for candidate in (root / "commands" / name, root / name, root / "data" / "commands" / name,
                      root / "Talk2Car" / "commands" / name):
        if candidate.is_file():
            return candidate
    found = sorted(root.rglob(name)) if root.is_dir() else []
    if not found:
        raise DataFormatError(root, f"no {name} under this folder (looked in commands/, ./, data/commands/, and below)")
    return found[0]


def find_image_folder(root: Path, commands_file: Path, first_image: str) -> Path:
    for candidate in (root / "images", commands_file.parent.parent / "images", root / "data" / "images", root):
        if (candidate / first_image).is_file():
            return candidate
    found = sorted(root.rglob(first_image))
    if not found:
        raise DataFormatError(root / "images" / first_image, "image not found (searched images/, data/images/ "
                                                              "and every folder below the root)", "t2c_img")
    return found[0].parent


@dataclass
class Command:
    command: str
    command_token: str
    image: Path
    image_size: tuple[int, int]  # width, height
    box: tuple[float, float, float, float] | None  # normalised x, y, w, h


def normalize_box(box: list[float], width: int, height: int) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return x / width, y / height, w / width, h / height


def denormalize_box(box: list[float] | np.ndarray, width: int, height: int) -> list[float]:
    x, y, w, h = box
    return [float(x * width), float(y * height), float(w * width), float(h * height)]


class Talk2CarDataset(Dataset):
    """Talk2Car commands of one split.

    ``require_boxes`` (default: every split but ``test``) turns a command without ``2d_box`` into an
    error. A box reaching a little past the image border is clipped (and counted in :attr:`report`);
    a box mostly outside, without area, or with a NaN, a null command, a repeated
    ``command_token`` or an unreadable image is an error naming the file and the command.
    ``camera_size`` (width, height) is the size every image must have (default: the first image's):
    ``image_size`` is what they are resized to for the network, not a licence to mix sizes.
    """

    def __init__(self, root: str | Path, split: str = "train", image_size: tuple[int, int] = (1600, 900),
                 require_boxes: bool | None = None, preload: bool = False,
                 camera_size: tuple[int, int] | None = None, camera_from: str = "the declared camera size is"):
        self.root = Path(root)
        self.split = split
        self.image_size = image_size  # (width, height) the images are resized to
        self.report: Counter = Counter()
        self.commands_file = find_commands_file(self.root, split)
        data = read_json(self.commands_file)
        entries = require_field(data, "commands", self.commands_file, list)
        if not entries:
            raise DataFormatError(self.commands_file, f"split {split!r} has no commands", "commands")
        not_objects = [e for e in entries if not isinstance(e, dict)]
        if not_objects:
            raise DataFormatError(self.commands_file, f"expected an object per command, got {not_objects[0]!r:.60}",
                                  "commands")
        first = require_field(entries[0], "t2c_img", self.commands_file, str)
        self.image_folder = find_image_folder(self.root, self.commands_file, first)
        require_boxes = split != "test" if require_boxes is None else require_boxes
        self.camera_size, self._camera_from = camera_size, camera_from
        self._sizes = self._image_sizes(entries)  # commands share images: each header read once
        self.items = [self._read(entry, require_boxes) for entry in entries]
        unique([item.command_token for item in self.items], self.commands_file, "command_token")
        # several commands may share an image: load (and encode) each image once
        self.images = list(dict.fromkeys(item.image for item in self.items))
        position = {path: i for i, path in enumerate(self.images)}
        self.image_index = np.array([position[item.image] for item in self.items])
        self._images = ([self._load(path) for path in tqdm(self.images, desc=f"load {split}")] if preload else None)

    def _image_sizes(self, entries: list[dict]) -> dict[Path, tuple[int, int]]:
        """Each distinct image's (width, height) from its header, all of them the camera's: sizes are
        checked before any box, so a resized image is named, not the boxes it no longer holds."""
        sizes: dict[Path, tuple[int, int]] = {}
        for entry in entries:
            image = self.image_folder / require_field(entry, "t2c_img", self.commands_file, str)
            if image in sizes:
                continue
            if not image.is_file():
                raise DataFormatError(image, f"image of command {entry.get('command_token')} not found", "t2c_img")
            size = image_header_size(image, "t2c_img")
            if self.camera_size is None:
                self.camera_size, self._camera_from = size, f"the split's first image ({image.name}) is"
            same_size(image, size, self.camera_size, self._camera_from, "t2c_img")
            sizes[image] = size
        return sizes

    def _read(self, entry: dict, require_boxes: bool) -> Command:
        path = self.commands_file
        token = require_field(entry, "command_token", path, str)
        command = require_field(entry, "command", path, str)
        if not command.strip():
            raise DataFormatError(path, f"command {token} is empty", "command")
        image = self.image_folder / require_field(entry, "t2c_img", path, str)
        width, height = self._sizes[image]
        box = entry.get("2d_box")
        if box is None:
            if require_boxes:
                raise DataFormatError(path, f"command {token} has no box in split {self.split!r}", "2d_box")
            return Command(command, token, image, (width, height), None)
        if not (isinstance(box, list) and len(box) == 4):
            raise DataFormatError(path, f"command {token}: expected [x, y, w, h], got {box!r}", "2d_box")
        finite_numbers(box, path, f"2d_box of command {token}")
        (x, y, w, h), clipped = clip_to_image(box, width, height, path, "2d_box", f"command {token}")
        if clipped:
            self.report["boxes clipped to the image"] += 1
        return Command(command, token, image, (width, height), normalize_box([x, y, w, h], width, height))

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, path: Path) -> np.ndarray:
        image = open_image(path, size=self._sizes[path], field="t2c_img")
        return np.asarray(image.convert("RGB").resize(self.image_size, Image.BILINEAR))

    def load_image(self, index: int) -> np.ndarray:
        """The (resized) image of command ``index``."""
        unique = int(self.image_index[index])
        return self._images[unique] if self._images is not None else self._load(self.images[unique])

    def image_tensor(self, unique: int) -> torch.Tensor:
        """Image number ``unique`` of :attr:`images` as a float tensor in [0, 1]."""
        array = self._images[unique] if self._images is not None else self._load(self.images[unique])
        return torch.from_numpy(np.array(array)).permute(2, 0, 1).float() / 255.0

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        image = self.load_image(index)
        box = torch.tensor(item.box if item.box is not None else [float("nan")] * 4, dtype=torch.float32)
        image = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
        return {"image": image, "box": box, "index": index}

    @property
    def commands(self) -> list[str]:
        return [c.command for c in self.items]

    @property
    def has_boxes(self) -> bool:
        """Whether every command carries its ``2d_box``: train and val always, the public test split too."""
        return all(c.box is not None for c in self.items)

    @property
    def boxes(self) -> torch.Tensor:
        return torch.tensor([c.box if c.box is not None else [float("nan")] * 4 for c in self.items])


@dataclass
class Talk2CarSplits:
    """The official splits, with the training split divided into a training part and a holdout."""

    train: Talk2CarDataset  # the official training split (train_idx + holdout_idx below)
    val: Talk2CarDataset  # the official validation split: the reported numbers
    test: Talk2CarDataset | None  # predictions.json, and metrics when it carries boxes (the public release does)
    train_idx: np.ndarray
    holdout_idx: np.ndarray


def load_talk2car_splits(root: Path, image_size: tuple[int, int], holdout_fraction: float, seed: int,
                         preload: bool = False) -> Talk2CarSplits:
    """Read train, val and (if present) test; hold out whole training *images* for model choice,
    so no image's commands straddle the training part and the holdout."""
    train = Talk2CarDataset(root, "train", image_size, preload=preload)
    # one camera: val and test images have the training images' size
    camera = {"camera_size": train.camera_size,
              "camera_from": f"the training split's first image ({train.images[0].name}) is"}
    val = Talk2CarDataset(root, "val", image_size, preload=preload, **camera)
    has_test = any(root.rglob("test_commands.json"))
    test = (Talk2CarDataset(root, "test", image_size, require_boxes=False, preload=preload, **camera)
            if has_test else None)
    images = np.random.default_rng(seed).permutation(len(train.images))
    held = set(images[: max(1, int(round(holdout_fraction * len(train.images))))].tolist())
    in_holdout = np.array([int(u) in held for u in train.image_index])
    return Talk2CarSplits(train, val, test, np.flatnonzero(~in_holdout), np.flatnonzero(in_holdout))


def read_objects_sidecar(dataset: Talk2CarDataset) -> dict[str, list[dict]] | None:
    """The synthetic world's ``{split}_objects.json`` (every visible object per image), if present.

    It is not part of the real release; with real data a detector's proposals take its place. Each
    image maps to a list of objects, each with a ``box`` of four finite numbers and a ``class``.
    """
    sidecar = dataset.commands_file.with_name(f"{dataset.split}_objects.json")
    if not sidecar.exists():
        return None
    data = read_json(sidecar)
    if not isinstance(data, dict):
        raise DataFormatError(sidecar, f"expected an object {{image: [objects]}}, got {type(data).__name__}")
    for image, objects in data.items():
        if not isinstance(objects, list):
            raise DataFormatError(sidecar, f"expected a list of objects, got {type(objects).__name__}", image)
        for obj in objects:
            box = require_field(obj, "box", sidecar, list)
            if len(box) != 4:
                raise DataFormatError(sidecar, f"expected [x, y, w, h], got {box!r}", f"{image}: box")
            finite_numbers(box, sidecar, f"{image}: box")
            require_field(obj, "class", sidecar, str)
    return data


def write_predictions(path: Path, dataset: Talk2CarDataset, pred_xywh: torch.Tensor) -> Path:
    """``{command_token: [x0, y0, w, h]}`` in the original image's pixels (the official format)."""

    out = {item.command_token: [round(v, 2) for v in denormalize_box(box.tolist(), *item.image_size)]
           for item, box in zip(dataset.items, pred_xywh)}
    return write_json(path, out)


def read_predictions(path: Path, dataset: Talk2CarDataset) -> torch.Tensor:
    """Predictions back to normalised ``[x, y, w, h]`` in dataset order.

    Each command of ``dataset`` needs one box of four finite numbers with positive width and
    height; errors name the file and the command token.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataFormatError(path, f"expected an object {{command_token: [x, y, w, h]}}, got {type(data).__name__}")
    boxes = []
    for item in dataset.items:
        token = item.command_token
        if token not in data:
            raise DataFormatError(path, f"no prediction for command {token}", token)
        box = data[token]
        if not (isinstance(box, list) and len(box) == 4):
            raise DataFormatError(path, f"expected [x, y, w, h], got {box!r}", token)
        x, y, w, h = finite_numbers(box, path, token)
        if w <= 0 or h <= 0:
            raise DataFormatError(path, f"box {box} has no area", token)
        boxes.append(normalize_box([x, y, w, h], *item.image_size))
    return torch.tensor(boxes)
