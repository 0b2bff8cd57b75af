"""Supervised pre-training of an encoder as a classifier (chapter 02's ImageNet-style initialisation)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..runtime import seed_everything
from .trainer import fit


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
