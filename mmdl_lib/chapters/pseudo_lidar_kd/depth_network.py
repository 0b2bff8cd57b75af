"""Monocular depth with GLPN (transformers' ``GLPNForDepthEstimation``) for chapter 03's pseudo-LiDAR.

Full profile: the KITTI checkpoint ``vinvino02/glpn-kitti`` (a MiT-b4 encoder, depths up to 80 m).
Smoke: the same architecture at a small width and depth, built from a config and trained here on
the synthetic ``depth_2`` maps with GLPN's own scale-invariant log loss and a gradient-matching term
(:mod:`.depth_loss`: without it a car comes out as a ramp on the road). GLPN's head ends in
``sigmoid · max_depth``: the ``max_depth`` the model runs with sets the scale of every prediction,
which is why :func:`predict_depth` can override it (chapter 03 shows what a wrong value does).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ...cache import cache_key, cached_folder
from ...engine import fit, load_weights, save_weights
from ...engine.trainer import one_cycle_adamw
from ...progress import tqdm
from ...runtime import seed_everything
from .depth_loss import gradient_matching_loss

GLPN_KITTI = "vinvino02/glpn-kitti"
# The architecture of GLPN_KITTI (MiT-b4 encoder), for building it without weights (parameter counts,
# rehearsals); loading the checkpoint reads the hub's own config.
FULL_ARCHITECTURE = dict(depths=[3, 8, 27, 3], hidden_sizes=[64, 128, 320, 512], num_attention_heads=[1, 2, 5, 8],
                         decoder_hidden_size=64, max_depth=80)
SMOKE_ARCHITECTURE = dict(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], num_attention_heads=[1, 2, 4, 8],
                          decoder_hidden_size=32, max_depth=80, drop_path_rate=0.0)
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def build_glpn(size: str = "smoke", pretrained: bool = False):
    """A ``GLPNForDepthEstimation``: ``"full"`` (MiT-b4, KITTI weights when ``pretrained``) or ``"smoke"``."""
    from transformers import GLPNConfig, GLPNForDepthEstimation

    if size == "full" and pretrained:
        return GLPNForDepthEstimation.from_pretrained(GLPN_KITTI)
    architecture = FULL_ARCHITECTURE if size == "full" else SMOKE_ARCHITECTURE
    return GLPNForDepthEstimation(GLPNConfig(**architecture))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) → GLPN's input (ImageNet mean and std, as its image processor)."""
    return (images.float() / 255 - IMAGENET_MEAN.to(images.device)) / IMAGENET_STD.to(images.device)


def network_size(size: tuple[int, int], multiple: int = 32) -> tuple[int, int]:
    """(w, h) rounded to the nearest multiple of ``multiple`` (at least one): GLPN's encoder halves
    the resolution five times and its decoder doubles it back."""
    return tuple(max(multiple, int(round(v / multiple)) * multiple) for v in size)


@contextmanager
def running_max_depth(model, max_depth: int | None) -> Iterator[None]:
    """Run ``model`` with another ``config.max_depth`` (its head multiplies by it) inside the block."""
    previous = model.config.max_depth
    if max_depth is not None:
        model.config.max_depth = max_depth
    try:
        yield
    finally:
        model.config.max_depth = previous


@torch.no_grad()
def predict_depth(model, images: torch.Tensor, input_size: tuple[int, int], device: torch.device,
                  batch_size: int = 8, max_depth: int | None = None, desc: str = "depth") -> np.ndarray:
    """Depth maps (N, H, W) in metres at the images' own size, for uint8 images (N, 3, H, W).

    Each image is resized to ``input_size`` (w, h) for the network and the prediction resized back.
    ``max_depth`` overrides the model's (see the module docstring).
    """
    model.eval().to(device)
    height, width = images.shape[-2:]
    out = np.empty((len(images), height, width), dtype=np.float32)
    with running_max_depth(model, max_depth):
        for start in tqdm(range(0, len(images), batch_size), desc=desc):
            batch = normalise(images[start:start + batch_size].to(device))
            batch = F.interpolate(batch, size=(input_size[1], input_size[0]), mode="bilinear", align_corners=False)
            depth = model(pixel_values=batch).predicted_depth[:, None]
            depth = F.interpolate(depth, size=(height, width), mode="bilinear", align_corners=False)
            out[start:start + len(depth)] = depth[:, 0].float().cpu().numpy()
    return out


def resize_depth_targets(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Ground-truth depth (N, H, W) at ``size`` (w, h) by nearest neighbour, so that 0 ("no depth")
    never blends into valid values."""
    return F.interpolate(depth[:, None], size=(size[1], size[0]), mode="nearest")[:, 0]


def train_depth(model, images: torch.Tensor, depth: torch.Tensor, size: tuple[int, int], epochs: int, lr: float,
                device: torch.device, seed: int = 0, checkpoint_dir=None, batch_size: int = 8,
                flip: bool = True, gradient_weight: float = 0.0) -> list[dict]:
    """Train GLPN on uint8 images (N, 3, H, W) and depth maps (N, H, W; 0 = none) at ``size`` (w, h)
    with its scale-invariant log loss plus ``gradient_weight`` × the gradient-matching loss
    (:mod:`.depth_loss`), AdamW and a one-cycle schedule (the book's ``fit``); ``flip``
    mirrors a random half of every batch left–right (a mirrored road is a road: GLPN's own training
    flips too)."""

    pixels = F.interpolate(normalise(images), size=(size[1], size[0]), mode="bilinear", align_corners=False)
    data = list(zip(pixels, resize_depth_targets(depth, size)))
    optimizer, scheduler = one_cycle_adamw(model.parameters(), lr, epochs, len(data), batch_size)
    loss = partial(depth_loss, gradient_weight=gradient_weight)
    return fit(model, optimizer, loss, data, epochs=epochs, batch_size=batch_size, device=device, seed=seed,
               collate_fn=random_flips if flip else None, scheduler=scheduler, checkpoint_dir=checkpoint_dir,
               amp=False, desc="depth network")


def random_flips(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate (image, depth) pairs, each mirrored left–right with probability ½ (torch's generator)."""
    pixels, depth = torch.stack([p for p, _ in pairs]), torch.stack([d for _, d in pairs])
    flipped = torch.rand(len(pairs)) < 0.5
    pixels[flipped], depth[flipped] = pixels[flipped].flip(-1), depth[flipped].flip(-1)
    return pixels, depth


def depth_loss(model, batch: tuple[torch.Tensor, torch.Tensor],
               gradient_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """GLPN's own scale-invariant log loss (``labels`` → ``loss``; pixels with depth 0 are ignored),
    plus ``gradient_weight`` × :func:`~.depth_loss.gradient_matching_loss` when positive."""
    pixels, target = batch
    out = model(pixel_values=pixels, labels=target)
    if gradient_weight <= 0:
        return {"total": out.loss}
    gradient = gradient_matching_loss(out.predicted_depth, target)
    return {"silog": out.loss, "gradient": gradient, "total": out.loss + gradient_weight * gradient}


def cached_trained_glpn(architecture: str, data: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                        size: tuple[int, int], epochs: int, lr: float, batch_size: int, device: torch.device,
                        seed: int = 0, data_key: dict[str, Any] | None = None, gradient_weight: float = 0.0):
    """GLPN of ``architecture`` trained by :func:`train_depth` on ``data()`` (uint8 images and depth
    maps, read only when it must train), cached under its settings and ``data_key`` (what identifies
    the data); a later call loads the weights (chapter 03's smoke depth network)."""

    model = build_glpn(architecture)

    def train_it(folder: Path) -> None:
        seed_everything(seed)
        images, depth = data()
        train_depth(model, images, depth, size, epochs, lr, device, seed, folder / "checkpoints", batch_size=batch_size,
                    gradient_weight=gradient_weight)
        save_weights(model, folder / "glpn.safetensors")

    settings = {"architecture": architecture, "augment": "flip", "size": size, "epochs": epochs, "lr": lr,
                "batch": batch_size, "seed": seed, **(data_key or {})}
    if gradient_weight > 0:  # the key of a network trained without it stays what it was
        settings["gradient_weight"] = gradient_weight
    key = cache_key(settings)
    folder, built = cached_folder("pseudo_lidar_depth", key, train_it)
    return model if built else load_weights(model, folder / "glpn.safetensors")
