"""Supervised pre-training of an encoder as a classifier (chapter 02's ImageNet-style initialisation)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ... import __version__
from ...cache import cache_key, cached_folder
from ...data.imagefolder import ImageFolderTensors
from ...engine.checkpoint import load_weights, save_weights
from ...engine.trainer import fit
from ...models.student import Student, StudentConfig, build_student, random_init
from ...runtime import seed_everything
from ...synth import WORLD_VERSION, ensure_synthetic


def pretrain_classifier(encoder: torch.nn.Module, data: Dataset, num_classes: int, epochs: int,
                        device: torch.device, seed: int = 0, lr: float = 2e-3, batch_size: int = 64,
                        desc: str = "classification pre-training") -> list[dict[str, float]]:
    """Train ``encoder`` (its ``forward_map``, globally pooled) + a linear classifier with cross-entropy.

    The classifier is thrown away afterwards; ``encoder`` keeps the weights. Returns the history.
    """
    classifier = torch.nn.Linear(encoder.map_channels, num_classes)
    model = torch.nn.ModuleDict({"encoder": encoder, "classifier": classifier})

    def loss_fn(m: torch.nn.ModuleDict, batch: dict) -> dict[str, torch.Tensor]:
        logits = m["classifier"](m["encoder"].forward_map(batch["image"]).mean(dim=(2, 3)))
        return {"total": torch.nn.functional.cross_entropy(logits, batch["label"])}

    seed_everything(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    return fit(model, optimizer, loss_fn, data, epochs=epochs, batch_size=batch_size, device=device, seed=seed,
               desc=desc)


def imagenet_initialised_encoder(config: StudentConfig, epochs: int, device: torch.device, seed: int = 0,
                                 preset: str = "smoke", rehearse: bool = False) -> Student:
    """An encoder of ``config``'s architecture, ImageNet-initialised: timm's weights with ``epochs``
    0 (a rehearsal builds the architecture without the download), else :func:`pretrain_classifier`
    on the synthetic ImageNet-style folder of ``preset``, cached under its settings."""
    if epochs <= 0:
        return build_student(StudentConfig(**{**asdict(config), "pretrained": not rehearse}))
    encoder = random_init(config)

    def pretrain(folder: Path) -> None:
        data = ImageFolderTensors(ensure_synthetic("imagefolder", preset, seed) / "train", 64)
        pretrain_classifier(encoder, data, len(data.classes), epochs, device, seed=seed)
        save_weights(encoder, folder / "encoder.safetensors")

    key = cache_key({"student": asdict(config), "epochs": epochs, "seed": seed, "preset": preset,
                     "world": WORLD_VERSION, "lib": __version__})
    folder, built = cached_folder("imagenet_style", key, pretrain)
    return encoder if built else load_weights(encoder, folder / "encoder.safetensors")
