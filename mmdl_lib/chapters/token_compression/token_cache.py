"""CLIP patch tokens of an image set, computed once and cached on disk (chapter 05).

The compressor trains for many epochs on tokens of a frozen encoder, so the ViT runs once per
image set and encoder: ``tokens.npy`` (N, D, G, G) in float16, memory-mapped when read back, and
``labels.npy``. The cache key holds the encoder's name, weights, input size and layer and the
images, so changing any of them computes new tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from ...cache import cache_key, cached_folder
from ...data.imagefolder import ImageFolderTensors
from ...errors import CacheError, DataFormatError
from ...io import read_json, write_json
from ...progress import tqdm

READS = ("cached_tokens", "image_split")


@dataclass
class TokenSet:
    """Tokens (N, D, G, G) of one split, their class labels and the class names."""

    tokens: np.ndarray  # float16, memory-mapped
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def batch(self, index: torch.Tensor | np.ndarray | slice) -> torch.Tensor:
        """Tokens at ``index`` as a float32 tensor."""
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        return torch.from_numpy(np.asarray(self.tokens[index], dtype=np.float32))

    def __getitem__(self, index: torch.Tensor | np.ndarray | slice) -> torch.Tensor:
        return self.batch(index)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tokens.shape)

    def spread(self, limit: int | None = None) -> np.ndarray:
        """Indices of every grid, or of ``limit`` grids spread evenly (classes stay in proportion)."""
        return np.asarray(stratified_subset(list(range(len(self))), limit))

    def all(self, limit: int | None = None) -> torch.Tensor:
        """Every token grid (or ``limit`` of them, see :meth:`spread`) in memory as float32."""
        return self.batch(self.spread(limit))

    def channel_stats(self, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and standard deviation over every token, read in chunks (float64)."""
        total = np.zeros(self.tokens.shape[1])
        squares = np.zeros(self.tokens.shape[1])
        for start in range(0, len(self), chunk):
            block = np.asarray(self.tokens[start:start + chunk], dtype=np.float64)
            total += block.sum(axis=(0, 2, 3))
            squares += (block ** 2).sum(axis=(0, 2, 3))
        count = len(self) * self.tokens.shape[2] * self.tokens.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


def stratified_subset(labels: list[int], size: int | None) -> list[int]:
    """``size`` indices spread evenly over a class-sorted list (every class kept in proportion)."""
    if size is None or size >= len(labels):
        return list(range(len(labels)))
    return np.linspace(0, len(labels) - 1, size).round().astype(int).tolist()


def image_split(root: Path, split: str, size: int, subset: int | None) -> tuple[Subset, list[str]]:
    """The images of ``root/split`` (``<class>/<image>``), resized to ``size``, optionally a subset."""
    folder = root / split
    dataset = ImageFolderTensors(folder, size)
    if len(dataset) == 0:
        raise DataFormatError(folder, "no images in this split")
    targets = dataset.folder.targets
    return Subset(dataset, stratified_subset(targets, subset)), dataset.classes


def _write_tokens(encode, images: Subset, folder: Path, device: torch.device, batch_size: int,
                  meta: dict[str, Any]) -> None:
    loader = DataLoader(images, batch_size=batch_size, shuffle=False)
    out, labels, start = None, [], 0
    for batch in tqdm(loader, desc=f"tokens {meta['split']}"):
        tokens = encode(batch["image"].to(device)).float().cpu().numpy().astype(np.float16)
        if out is None:
            out = np.lib.format.open_memmap(folder / "tokens.npy", mode="w+", dtype=np.float16,
                                            shape=(len(images), *tokens.shape[1:]))
        out[start:start + len(tokens)] = tokens
        start += len(tokens)
        labels.append(batch["label"].numpy())
    out.flush()
    np.save(folder / "labels.npy", np.concatenate(labels))
    write_json(folder / "tokens.json", meta)


def cached_tokens(encode, root: Path, split: str, image_size: int, subset: int | None, encoder_fields: dict,
                  device: torch.device, batch_size: int = 32) -> TokenSet:
    """Tokens of ``root/split`` from ``encode`` (images → (B, D, G, G)), computed once per key."""
    images, classes = image_split(root, split, image_size, subset)
    files = [str(Path(p).relative_to(root)) for p, _ in (images.dataset.folder.samples[i] for i in images.indices)]
    meta = {"split": split, "root": str(root), "classes": classes, "image_size": image_size, **encoder_fields}
    key = cache_key({**meta, "files": files})
    folder, _ = cached_folder("clip_tokens", key,
                              lambda partial: _write_tokens(encode, images, partial, device, batch_size, meta))
    return read_token_set(folder)


def read_token_set(folder: Path) -> TokenSet:
    """A cache entry's tokens (N, D, G, G), N labels and the class names, each file checked."""
    fix = f"delete {folder} to rebuild it"
    saved = read_json(folder / "tokens.json", lambda path, message: CacheError(path, f"{message}; {fix}"))
    classes = saved.get("classes") if isinstance(saved, dict) else None
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise CacheError(folder / "tokens.json", f"expected a list of class names; {fix}", "classes")
    tokens = _load_array(folder / "tokens.npy", fix, mmap_mode="r")
    labels = _load_array(folder / "labels.npy", fix)
    if tokens.ndim != 4 or labels.ndim != 1 or len(labels) != len(tokens):
        raise CacheError(folder / "tokens.npy", f"tokens of shape {tokens.shape} and labels of shape {labels.shape} "
                                                f"(expected (N, D, G, G) and (N,)); {fix}")
    if len(labels) and not (np.issubdtype(labels.dtype, np.integer) and 0 <= labels.min()
                            and labels.max() < len(classes)):
        raise CacheError(folder / "labels.npy", f"labels are not class indices below {len(classes)}; {fix}")
    return TokenSet(tokens, labels, classes)


def _load_array(path: Path, fix: str, mmap_mode: str | None = None) -> np.ndarray:
    if not path.is_file():
        raise CacheError(path, f"{'not found' if not path.exists() else 'not a file'}; {fix}")
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CacheError(path, f"not a readable .npy array ({e}); {fix}") from None


def require_image_splits(root: Path, splits: tuple[str, ...]) -> Path:
    """``root`` if it holds every split as ``<split>/<class>/`` folders (the ImageNet layout), else a
    :class:`DataFormatError` naming the missing folder."""
    for split in splits:
        if not (root / split).is_dir():
            raise DataFormatError(root / split, "image split not found: expected train/<class>/ and val/<class>/ "
                                  "(ImageNet layout), or pass data_root")
    return root
