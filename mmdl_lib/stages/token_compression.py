"""Chapter 05: CLIP vision-token compression — 2D-conv compressor, WGAN-GP, autoencoder (seed 002).

Steps the notebook calls: :func:`config_from` (parameters, with the seed's Hydra-style
overrides), :func:`get_encoder`, :func:`load_tokens`, :func:`train_autoencoder` (once per grid
size and variant), :func:`downstream`, :func:`reference_zero_shot` and :func:`val_image`;
the cosine map and the cost come from :mod:`mmdl_lib.metrics.token_compression`. Models, losses,
the WGAN-GP loop and metrics live in their modules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Subset

from ..config import StageConfig, check_fields
from ..data.token_cache import TokenSet, cached_tokens, image_split, require_image_splits
from ..engine.inference import batched_outputs
from ..engine.wgan import WGANResult, WGANSettings, fit_wgan_gp
from ..errors import ConfigError
from ..losses.token_compression import ReconstructionLoss
from ..metrics.token_compression import compression_report, linear_probe_accuracy, probe_accuracy, zero_shot_accuracy
from ..models.attentive_probe import fit_attentive_probe
from ..models.token_autoencoder import TokenAutoencoder, TokenAutoencoderConfig
from ..models.token_compressor import average_pool_tokens
from ..models.token_critic import build_critic
from ..models.token_encoder import CLIPTokenEncoder
from ..overrides import KEEP, KeyMap, parse_overrides
from ..paths import dataset_root
from ..runtime import seed_everything

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


def resolve_image_root(cfg: TokenCompressionConfig) -> Path:
    root = dataset_root(cfg.data_root, cfg.synthetic, "imagefolder", cfg.synthetic_preset, cfg.seed, folder="imagenet")
    return require_image_splits(root, ("train", "val"))


def get_encoder(cfg: TokenCompressionConfig, device: torch.device) -> tuple[CLIPTokenEncoder, dict]:
    """The frozen CLIP: chapter 01's teacher in smoke, a transformers CLIP by name otherwise."""
    if cfg.encoder == SMOKE_ENCODER:
        from .clip_kd import ClipKDConfig, cached_teacher

        teacher, info = cached_teacher(ClipKDConfig.from_profile("smoke", seed=cfg.seed), device)
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
    settings = WGANSettings(c.epochs, c.batch_size, c.n_critic, c.lambda_gp, c.w_wgan, c.w_ae, c.lr, c.critic_lr,
                            amp=c.mixed_precision)
    loss = ReconstructionLoss(c.ae_loss, c.w_mse, c.w_cosine, c.w_spatial)

    def evaluate(m: TokenAutoencoder, d: torch.nn.Module) -> dict[str, float]:
        report = compression_report(m, d, val)
        return {"val_cosine": report["cosine"], "val_wasserstein": report["wasserstein"]}

    result = fit_wgan_gp(model, critic, train, settings, loss, device, seed=c.seed, transform=model.standardise,
                         evaluate=evaluate, checkpoint_dir=checkpoint_dir, run_settings=c.fingerprint(), desc=desc)
    return model, critic, result


def downstream(cfg: TokenCompressionConfig, encoder: CLIPTokenEncoder, model: TokenAutoencoder,
               tokens: dict[str, TokenSet]) -> dict[str, dict[str, float]]:
    """Linear probe, attentive probe and zero-shot accuracy on full, compressed and average-pooled tokens."""
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
    table = {}
    for name, view in views.items():
        probe = fit_attentive_probe(view["train"], labels["train"], len(tokens["train"].classes), cfg.probe_epochs,
                                    seed=cfg.seed)
        with torch.no_grad():
            image = encoder.token_embeddings(model.restore(view["val"].to(device))).cpu()
        table[name] = {"tokens": int(view["val"].shape[-1] ** 2),
                       "attentive_probe": probe_accuracy(probe, view["val"], labels["val"]),
                       "linear_probe_mean_token": linear_probe_accuracy(
                           view["train"].mean((2, 3)).numpy(), labels["train"].numpy(),
                           view["val"].mean((2, 3)).numpy(), labels["val"].numpy(), cfg.seed),
                       "zero_shot": zero_shot_accuracy(image, text.cpu(), labels["val"])}
    table["chance"] = {"attentive_probe": float(np.bincount(labels["val"]).max() / len(labels["val"]))}
    return table


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
