"""Chapter 05: CLIP vision-token compression — 2D-conv compressor, WGAN-GP, autoencoder (seed 002).

Steps the notebook calls: :func:`config_from` (parameters, with the seed's Hydra-style
overrides), :func:`get_encoder`, :func:`load_tokens`, :func:`train_autoencoder` (once per grid
size and variant), :func:`downstream`, :func:`reference_zero_shot` and :func:`val_image`;
the cosine map and the cost come from :mod:`.metrics`. Models, losses,
the WGAN-GP loop and metrics live in their modules.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from ...engine.inference import batched_outputs
from ...region_clip import RegionTeacherConfig, cached_teacher
from ...runtime import seed_everything
from ...synth import dataset_root
from .autoencoder import TokenAutoencoder, TokenAutoencoderConfig
from .compressor import average_pool_tokens
from .config import (CONFIG, HYDRA_KEYS, SMOKE_ENCODER, VARIANTS, TokenCompressionConfig, config_from, hydra_overrides,
                     smoke_checks)
from .critic import build_critic
from .losses import ReconstructionLoss
from .metrics import compression_report, hit_rate, linear_probe_accuracy, probe_hits, zero_shot_accuracy
from .probe import fit_attentive_probe
from .token_cache import TokenSet, cached_tokens, image_split, require_image_splits
from .token_encoder import CLIPTokenEncoder
from .wgan import WGANResult, WGANSettings, fit_wgan_gp

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "HYDRA_KEYS", "SMOKE_ENCODER", "TokenCompressionConfig", "VARIANTS", "config_from",
           "hydra_overrides", "smoke_checks"]


def resolve_image_root(cfg: TokenCompressionConfig) -> Path:
    root = dataset_root(cfg.data_root, cfg.synthetic, "imagefolder", cfg.synthetic_preset, cfg.seed, folder="imagenet")
    return require_image_splits(root, ("train", "val"))


def get_encoder(cfg: TokenCompressionConfig, device: torch.device) -> tuple[CLIPTokenEncoder, dict]:
    """The frozen CLIP: chapter 01's teacher in smoke, a transformers CLIP by name otherwise."""
    if cfg.encoder == SMOKE_ENCODER:
        teacher, info = cached_teacher(RegionTeacherConfig.from_profile("smoke", seed=cfg.seed), device)
        encoder = CLIPTokenEncoder.from_open_clip(teacher.cpu(), cfg.image_size, cfg.feature_layer)
        info = {"name": SMOKE_ENCODER, "weights": info.get("weights")}
    else:
        encoder = CLIPTokenEncoder.from_transformers(cfg.encoder, cfg.encoder_pretrained, cfg.feature_layer,
                                                     cfg.image_size)
        info = {"name": cfg.encoder, "weights": "pretrained" if cfg.encoder_pretrained else "random"}
    info.update(grid=encoder.grid, width=encoder.width, image_size=encoder.image_size, feature_layer=cfg.feature_layer)
    return encoder.to(device), info


def load_tokens(cfg: TokenCompressionConfig, encoder: CLIPTokenEncoder, encoder_info: dict, root: Path,
                device: torch.device) -> dict[str, TokenSet]:
    return {split: cached_tokens(encoder.encode_tokens, root, split, encoder.image_size, subset, encoder_info, device)
            for split, subset in (("train", cfg.subset_size), ("val", cfg.val_subset_size))}


def train_autoencoder(cfg: TokenCompressionConfig, train: TokenSet | torch.Tensor, val: torch.Tensor,
                      device: torch.device, output_grid: int | None = None, checkpoint_dir: Path | None = None,
                      desc: str = "compressor", **variant: Any) -> tuple[TokenAutoencoder, torch.nn.Module, WGANResult]:
    """Compressor + decoder against a critic on raw tokens (N, D, G, G): a tensor, or a cached
    ``TokenSet`` read batch by batch (the full profile's 10 000 grids do not fit in memory).
    ``variant`` overrides ``decoder``, ``critic`` or ``w_wgan`` (0: autoencoder only; the critic
    is still trained, to measure)."""
    seed_everything(cfg.seed)
    c = dataclasses.replace(cfg, **variant)
    dim, grid = train.shape[1], train.shape[-1]
    model = TokenAutoencoder(TokenAutoencoderConfig(dim, grid, output_grid or c.output_grid_size, c.num_layers,
                                                    c.use_residual, c.decoder, c.hidden_dim))
    if isinstance(train, TokenSet):
        model.set_standardisation(*train.channel_stats())
    else:
        model.fit_standardisation(train)
    critic = build_critic(c.critic, dim, c.critic_hidden)
    settings = WGANSettings.from_config(c)
    loss = ReconstructionLoss(c.ae_loss, c.w_mse, c.w_cosine, c.w_spatial)

    def evaluate(m: TokenAutoencoder, d: torch.nn.Module) -> dict[str, float]:
        report = compression_report(m, d, val)
        return {"val_cosine": report["cosine"], "val_wasserstein": report["wasserstein"]}

    result = fit_wgan_gp(model, critic, train, settings, loss, device, seed=c.seed, transform=model.standardise,
                         evaluate=evaluate, checkpoint_dir=checkpoint_dir, run_settings=c.fingerprint(), desc=desc)
    return model, critic, result


def downstream(cfg: TokenCompressionConfig, encoder: CLIPTokenEncoder, model: TokenAutoencoder,
               tokens: dict[str, TokenSet], return_hits: bool = False):
    """Linear probe, attentive probe and zero-shot accuracy on full, compressed and average-pooled tokens;
    with ``return_hits`` also each view's attentive-probe hits per validation image (1 right, 0 wrong),
    for the paired comparisons: ``(table, hits)``."""
    device = next(model.parameters()).device
    grid = model.config.output_grid
    labels = {"train": torch.from_numpy(tokens["train"].labels[tokens["train"].spread(cfg.probe_train_size)]).long(),
              "val": torch.from_numpy(tokens["val"].labels).long()}
    text = encoder.class_name_embeddings(tokens["train"].classes, cfg.encoder == SMOKE_ENCODER)
    views: dict[str, dict[str, torch.Tensor]] = {"full tokens": {}, "compressed": {}, "average pooled": {}}
    with torch.no_grad():
        for split, data in tokens.items():
            standard = model.standardise(data.all(cfg.probe_train_size if split == "train" else None).to(device))
            views["full tokens"][split] = standard.cpu()
            views["compressed"][split] = model.compress(standard).cpu()
            views["average pooled"][split] = average_pool_tokens(standard, grid).cpu()
    table, hits = {}, {}
    for name, view in views.items():
        probe = fit_attentive_probe(view["train"], labels["train"], len(tokens["train"].classes), cfg.probe_epochs,
                                    seed=cfg.seed)
        with torch.no_grad():
            image = encoder.token_embeddings(model.restore(view["val"].to(device))).cpu()
        hits[name] = probe_hits(probe, view["val"], labels["val"])
        table[name] = {"tokens": int(view["val"].shape[-1] ** 2),
                       "attentive_probe": hit_rate(hits[name]),
                       "linear_probe_mean_token": linear_probe_accuracy(
                           view["train"].mean((2, 3)).numpy(), labels["train"].numpy(),
                           view["val"].mean((2, 3)).numpy(), labels["val"].numpy(), cfg.seed),
                       "zero_shot": zero_shot_accuracy(image, text.cpu(), labels["val"])}
    table["chance"] = {"attentive_probe": float(np.bincount(labels["val"]).max() / len(labels["val"]))}
    return (table, hits) if return_hits else table


def _val_images(cfg: TokenCompressionConfig, root: Path, encoder: CLIPTokenEncoder) -> Subset:
    return image_split(root, "val", encoder.image_size, cfg.val_subset_size)[0]


@torch.no_grad()
def reference_zero_shot(cfg: TokenCompressionConfig, encoder: CLIPTokenEncoder, root: Path, val: TokenSet) -> float:
    """Zero-shot accuracy of the encoder's own image embedding (class token) on the validation images."""
    embeddings = batched_outputs(lambda b: encoder.encode_image(b["image"]), _val_images(cfg, root, encoder),
                                 encoder.mean.device, 32, 0, desc="class-token embeddings")
    text = encoder.class_name_embeddings(val.classes, cfg.encoder == SMOKE_ENCODER).cpu()
    return zero_shot_accuracy(embeddings, text, torch.from_numpy(val.labels).long())


def val_image(cfg: TokenCompressionConfig, encoder: CLIPTokenEncoder, root: Path, position: int = 0) -> torch.Tensor:
    """The validation image whose tokens are ``val`` tokens[position], as the encoder saw it."""
    return _val_images(cfg, root, encoder)[position]["image"]
