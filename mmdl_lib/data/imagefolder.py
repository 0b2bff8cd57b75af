"""An ImageNet-style folder (``train/<class>/*.png``) as square float tensors (chapter 02's pre-training,
chapter 05's token sets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataFormatError
from .validation import open_image

READS = ("ImageFolderTensors",)


def load_rgb(path: str) -> Image.Image:
    """torchvision's ``pil_loader`` through :func:`open_image`: an unreadable image names its file."""
    return open_image(path).convert("RGB")


class ImageFolderTensors(Dataset):
    """``{"image": (3, size, size) in [0, 1], "label": class index}`` per image of ``root``."""

    def __init__(self, root: str | Path, size: int):
        from torchvision.datasets import ImageFolder

        if not Path(root).is_dir():
            raise DataFormatError(root, "image folder not found (expected <root>/<class>/<image>)")
        try:
            self.folder = ImageFolder(str(root), loader=load_rgb)
        except FileNotFoundError as e:  # no class folders, or class folders without images
            raise DataFormatError(root, f"not an image folder ({e})") from None
        self.size = size

    @property
    def classes(self) -> list[str]:
        return self.folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> dict:
        image, label = self.folder[index]
        array = np.array(image.convert("RGB").resize((self.size, self.size)))  # writable, for torch
        return {"image": torch.from_numpy(array).permute(2, 0, 1).float() / 255.0, "label": label}
