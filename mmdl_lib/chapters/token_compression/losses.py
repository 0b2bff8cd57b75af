"""Losses of chapter 05's token compressor (seed 002): WGAN-GP and the autoencoder's reconstruction.

Token grids are (B, D, h, w). The seed's defaults: ``lambda_gp`` 10, adversarial and autoencoder
weights 1.0 each; the reconstruction is one of ``mse``, ``cosine``, ``hybrid`` (MSE + cosine) or
``perceptual`` (hybrid plus a spatial-consistency term that keeps how tokens relate to each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

RECONSTRUCTION_LOSSES = ("mse", "cosine", "hybrid", "perceptual")


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic minimises E[D(fake)] − E[D(real)], the negated Wasserstein estimate."""
    return fake_scores.mean() - real_scores.mean()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The compressor maximises the critic's score of its tokens."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, epsilon: torch.Tensor | None = None) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = ε·real + (1 − ε)·fake, ε ~ U(0, 1) per sample (Gulrajani et al. 2017).

    ``real`` and ``fake`` have the same shape; the norm is over all of a sample's elements. The
    penalty is returned unweighted: the caller multiplies by ``lambda_gp``.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient penalty needs real and fake of one shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if epsilon is None:
        epsilon = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def mse_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(recon, target)


def cosine_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − the mean cosine similarity of each reconstructed token with its original."""
    return 1 - F.cosine_similarity(recon, target, dim=1).mean()


def spatial_consistency_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the token-to-token cosine-similarity matrices of reconstruction and original:
    the grid's structure (which regions look alike) is kept, not only each token."""
    def self_similarity(x: torch.Tensor) -> torch.Tensor:
        flat = F.normalize(x.flatten(2), dim=1)
        return flat.transpose(1, 2) @ flat

    return F.mse_loss(self_similarity(recon), self_similarity(target))


@dataclass
class ReconstructionLoss:
    """The autoencoder loss ``kind`` with its weights; returns every term and ``"total"``."""

    kind: str = "hybrid"
    w_mse: float = 1.0
    w_cosine: float = 1.0
    w_spatial: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {self.kind!r}")

    def __call__(self, recon: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if self.kind in ("mse", "hybrid", "perceptual"):
            terms["mse"] = mse_loss(recon, target)
        if self.kind in ("cosine", "hybrid", "perceptual"):
            terms["cosine"] = cosine_loss(recon, target)
        if self.kind == "perceptual":
            terms["spatial"] = spatial_consistency_loss(recon, target)
        weights = {"mse": self.w_mse if self.kind != "mse" else 1.0,
                   "cosine": self.w_cosine if self.kind != "cosine" else 1.0, "spatial": self.w_spatial}
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        return terms
