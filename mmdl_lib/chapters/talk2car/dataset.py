"""Batches for grounding (chapter 02): on cached feature maps, or on images for end-to-end fine-tuning.

A frozen encoder runs once per distinct image (:class:`UniqueImages`); training then batches
*images*, each with all of its commands (:class:`ImageCommands` + :func:`collate_image_commands`),
so the commands about one image share its encoding. Fine-tuning the encoder end to end passes the
split itself instead of the cached maps: each item then carries the image.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data.talk2car import Talk2CarDataset
from ...errors import MMDLError


class UniqueImages(Dataset):
    """The distinct images of a Talk2Car split, in ``dataset.images`` order, as tensors in [0, 1]."""

    def __init__(self, dataset: Talk2CarDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset.images)

    def __getitem__(self, unique: int) -> torch.Tensor:
        return self.dataset.image_tensor(unique)


class ImageCommands(Dataset):
    """Per distinct image: its feature map (``features`` a tensor of cached maps) or the image itself
    (``features`` the Talk2Car split), and the embeddings and boxes of its commands in ``indices``."""

    def __init__(self, features: torch.Tensor | Talk2CarDataset, image_index: np.ndarray, text: torch.Tensor,
                 boxes: torch.Tensor, indices: np.ndarray):
        self.features, self.text, self.boxes = features, text, boxes
        by_image: dict[int, list[int]] = {}
        for j in indices:
            by_image.setdefault(int(image_index[j]), []).append(int(j))
        if not by_image:
            raise MMDLError("no commands to train on: the training part of the split is empty")
        self.groups = sorted(by_image.items())

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict:
        image, commands = self.groups[i]
        pixels = ({"image": self.features.image_tensor(image)} if isinstance(self.features, Talk2CarDataset)
                  else {"features": self.features[image]})
        return {**pixels, "text": self.text[commands], "box": self.boxes[commands]}


def collate_image_commands(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack the images' maps (or images) once; concatenate their commands; ``image_index`` maps
    command → map."""
    counts = torch.tensor([len(item["text"]) for item in items])
    key = "features" if "features" in items[0] else "image"
    return {key: torch.stack([item[key] for item in items]),
            "text": torch.cat([item["text"] for item in items]),
            "box": torch.cat([item["box"] for item in items]),
            "image_index": torch.repeat_interleave(torch.arange(len(items)), counts)}
