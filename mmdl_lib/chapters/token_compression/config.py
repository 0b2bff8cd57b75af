"""Chapter 05's settings per profile, the seed's Hydra keys, and what its smoke run must show."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ...config import StageConfig, check_fields
from ...errors import ConfigError
from ...overrides import KEEP, KeyMap, parse_overrides

SMOKE_ENCODER = "chapter01-teacher"


# Variants of the main setting the chapter compares (names → settings they change).
VARIANTS: dict[str, dict[str, Any]] = {"no_wgan": {"w_wgan": 0.0}, "attention_decoder": {"decoder": "attention"},
                                       "multiscale_critic": {"critic": "multiscale"}}


@dataclass
class TokenCompressionConfig(StageConfig):
    data_root: str | None = None  # ImageNet-style root (train/<class>/, val/<class>/); None → synthetic / $MMDL_DATA/imagenet
    synthetic_preset: str = "smoke"
    encoder: str = "openai/clip-vit-large-patch14-336"  # any transformers CLIP; smoke: chapter 01's teacher
    encoder_pretrained: bool = True  # False: the architecture with random weights (CPU rehearsal)
    image_size: int = 336
    feature_layer: int = -1  # hidden layer whose patch tokens are compressed (LLaVA reads -2)
    subset_size: int | None = 10000  # training images (stratified); None: all
    val_subset_size: int | None = 1000
    output_grid_size: int = 6
    table_grid_sizes: list[int] = field(default_factory=lambda: [4, 6, 8, 12])
    num_layers: int = 3
    use_residual: bool = True
    hidden_dim: int | None = None  # compressor/decoder width; None: the token width
    decoder: Literal["conv", "attention"] = "conv"
    critic: Literal["single", "multiscale"] = "single"
    critic_hidden: int = 256
    ae_loss: Literal["mse", "cosine", "hybrid", "perceptual"] = "hybrid"
    w_mse: float = 1.0
    w_cosine: float = 1.0
    w_spatial: float = 1.0
    lambda_gp: float = 10.0
    n_critic: int = 5
    w_wgan: float = 1.0
    w_ae: float = 1.0
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    critic_lr: float = 1e-4
    mixed_precision: bool = True
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))  # trained at output_grid_size too
    probe_epochs: int = 30
    probe_train_size: int | None = 2000  # training grids the probes see (all of them in memory); None: all
    overrides: list[str] | None = None  # the seed's Hydra syntax, e.g. ["model.compressor.output_grid_size=8"]
    cost_batch_size: int = 8  # images per timed ViT / compressor forward in the cost table

    PROFILES = {
        "smoke": {"encoder": SMOKE_ENCODER, "encoder_pretrained": False, "image_size": 192, "subset_size": 210,
                  "val_subset_size": None, "hidden_dim": 64, "critic_hidden": 128, "epochs": 5, "batch_size": 32,
                  "lr": 2e-3, "critic_lr": 2e-3, "probe_epochs": 40, "variants": ["no_wgan"]},
        "full": {},
    }
    # the full profile on a CPU: ViT-L/14-336 from its config with random weights, the rehearsal
    # preset's few images, one epoch of every compressor, variant and probe
    REHEARSAL = {"encoder_pretrained": False, "subset_size": 7, "epochs": 1, "batch_size": 4, "probe_epochs": 1,
                 "cost_batch_size": 1}


CONFIG = TokenCompressionConfig


# The seed's Hydra keys → this chapter's parameters (value converters where the meaning differs).
HYDRA_KEYS: KeyMap = {
    "model.clip.model_name": ("encoder", None),
    "model.compressor.output_grid_size": ("output_grid_size", None),
    "model.compressor.num_layers": ("num_layers", None),
    "model.compressor.use_residual": ("use_residual", None),
    "model.autoencoder.use_attention": ("decoder", lambda v: "attention" if v else "conv"),
    "model.discriminator.use_multiscale": ("critic", lambda v: "multiscale" if v else "single"),
    "loss.wgan.lambda_gp": ("lambda_gp", None),
    "loss.weights.wgan": ("w_wgan", None),
    "loss.weights.ae": ("w_ae", None),
    "training.epochs": ("epochs", None),
    "training.batch_size": ("batch_size", None),
    "training.learning_rate": ("lr", None),
    "training.n_critic": ("n_critic", None),
    "data.subset_size": ("subset_size", None),
    "data.use_subset": ("subset_size", lambda v: KEEP if v else None),
}


def hydra_overrides(overrides: list[str]) -> dict[str, Any]:
    """The seed's ``["training.n_critic=10", …]`` → ``{"n_critic": 10, …}``."""
    return parse_overrides(overrides, HYDRA_KEYS)


def config_from(namespace: dict[str, Any]) -> TokenCompressionConfig:
    """The config from a notebook's parameters; ``overrides`` (Hydra syntax) apply last."""
    cfg = TokenCompressionConfig.from_parameters(namespace)
    if cfg.overrides:
        cfg = dataclasses.replace(cfg, **check_fields(TokenCompressionConfig, hydra_overrides(cfg.overrides)))
    unknown = sorted(set(cfg.variants) - set(VARIANTS))
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; choose among {sorted(VARIANTS)}")
    return cfg


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    main, table = metrics["main"], metrics["downstream"]
    gp = [row["gradient_penalty"] for row in metrics["history"]]
    return {"6×6 compressor reconstruction cosine above average pooling": main["cosine"] > main["avgpool_cosine"],
            "attentive probe on compressed tokens within the stated gap of full tokens":
                table["full tokens"]["attentive_probe"] - table["compressed"]["attentive_probe"]
                <= metrics["probe_gap_allowed"],
            "WGAN-GP stable: finite losses, gradient penalty below 1 at the end":
                all(np.isfinite(gp)) and gp[-1] < 1.0}
