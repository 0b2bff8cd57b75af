"""The CLIP teacher of chapters 01 and 02: any open_clip model by name and pretrained tag, frozen.

The full profile loads real weights (``ViT-B-16`` / ``laion2b_s34b_b88k`` and the like). The smoke
profile cannot download any, so it builds ``mmdl-vit-tiny-teacher`` (a small ViT image tower and
text transformer, config shipped in ``models/configs/``) and trains it contrastively on the
synthetic region captions first (:func:`mmdl_lib.chapters.clip_kd.pipeline.get_teacher`). Chapters 02, 04 and
05 reuse chapter 01's teacher.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from ..cache import cache_key, cached_folder
from ..engine.checkpoint import load_weights, save_weights
from ..runtime import seed_everything

CONFIG_DIR = Path(__file__).parent / "configs"


class _NoRandomInitWarning(logging.Filter):
    """open_clip warns on the root logger whenever no tag is given; here that is the intent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _random_init_is_intended() -> Iterator[None]:
    """Hide that one warning while we build a model, and touch no logger outside that."""
    root, quiet = logging.getLogger(), _NoRandomInitWarning()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


open_clip.add_model_config(CONFIG_DIR)  # registers the book's small configs by file name


class CLIPTeacher(nn.Module):
    """An open_clip model whose ``encode_image`` takes images in [0, 1] and normalises them itself."""

    def __init__(self, name: str, pretrained: str | None = None, weights: str | Path | None = None):
        super().__init__()
        # without a tag the weights are random (then trained here) or loaded from ``weights``
        with _random_init_is_intended():
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained,
                                                                         load_weights=pretrained is not None)
        if weights is not None:
            load_weights(model, weights)
        self.name, self.pretrained = name, pretrained
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(name)
        norm = next(t for t in preprocess.transforms if t.__class__.__name__ == "Normalize")
        self.register_buffer("mean", torch.tensor(norm.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(norm.std).view(1, 3, 1, 1), persistent=False)
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)

    @classmethod
    def from_info(cls, info: dict) -> "CLIPTeacher":
        """The teacher a chapter-01 run recorded (``{"name", "pretrained", "weights"}``), frozen."""
        return cls(info["name"], info.get("pretrained"), weights=info.get("weights")).freeze()

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if isinstance(
            self.model.text_projection, torch.Tensor) else int(self.model.text_projection.out_features)

    @property
    def image_tower(self) -> nn.Module:
        return self.model.visual

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.model.encode_image((images - self.mean) / self.std, normalize=normalize)

    def image_encoder(self) -> "CLIPImageEncoder":
        """The image tower alone, as a module: what a car would deploy (chapter 01's ONNX export)."""
        return CLIPImageEncoder(self)

    def encode_text(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        device = self.mean.device
        return self.model.encode_text(self.tokenizer(texts).to(device), normalize=normalize)

    def freeze(self) -> "CLIPTeacher":
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self


class CLIPImageEncoder(nn.Module):
    """A CLIP teacher's image tower with its input normalisation: [0, 1] images → unit embeddings."""

    def __init__(self, teacher: CLIPTeacher):
        super().__init__()
        self.visual = teacher.model.visual
        self.register_buffer("mean", teacher.mean.clone(), persistent=False)
        self.register_buffer("std", teacher.std.clone(), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual((images - self.mean) / self.std), dim=-1)


def random_teacher_weights(name: str, seed: int) -> Path:
    """The weights of open_clip model ``name`` at random initialisation, saved once per name and seed:
    the teacher of chapter 01's full-profile rehearsal, which chapter 02's rehearsal loads again."""

    def write(folder: Path) -> None:
        seed_everything(seed)
        save_weights(CLIPTeacher(name).model, folder / "teacher.safetensors")

    folder, _ = cached_folder("clip_kd_rehearsal_teacher", cache_key({"name": name, "seed": seed}), write)
    return folder / "teacher.safetensors"
