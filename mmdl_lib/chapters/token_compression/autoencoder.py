"""Compressor + decoder as one model, saved and loaded with its settings (chapter 05).

``TokenAutoencoder(tokens)`` returns ``(compressed, reconstruction)``: the compressed grid is what a
VLM would read; the reconstruction is how the autoencoder loss checks that each compressed token
kept its block. Tokens are standardised per channel with statistics of the training tokens (kept
as buffers), so a few large channels, which CLIP's hidden states have, do not dominate the losses.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ...engine.checkpoint import load_weights, save_weights
from ...errors import CheckpointError
from ...io import write_json
from .compressor import TokenCompressor
from .decoder import build_decoder


@dataclass
class TokenAutoencoderConfig:
    dim: int
    input_grid: int
    output_grid: int = 6
    num_layers: int = 3
    use_residual: bool = True
    decoder: str = "conv"
    hidden_dim: int | None = None


class TokenAutoencoder(nn.Module):
    def __init__(self, config: TokenAutoencoderConfig):
        super().__init__()
        self.config = config
        c = config
        self.compressor = TokenCompressor(c.dim, c.input_grid, c.output_grid, c.num_layers, c.use_residual, c.hidden_dim)
        self.decoder = build_decoder(c.decoder, c.dim, c.input_grid, c.output_grid, c.hidden_dim)
        self.register_buffer("token_mean", torch.zeros(1, c.dim, 1, 1))
        self.register_buffer("token_std", torch.ones(1, c.dim, 1, 1))

    def fit_standardisation(self, tokens: torch.Tensor) -> "TokenAutoencoder":
        """Per-channel mean and standard deviation of (N, D, G, G) training tokens."""
        return self.set_standardisation(tokens.mean(dim=(0, 2, 3)), tokens.std(dim=(0, 2, 3)))

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> "TokenAutoencoder":
        """Per-channel statistics (D,) computed elsewhere (``TokenSet.channel_stats`` streams them)."""
        self.token_mean.copy_(mean.view(1, -1, 1, 1))
        self.token_std.copy_(std.clamp_min(1e-6).view(1, -1, 1, 1))
        return self

    def standardise(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.token_mean) / self.token_std

    def restore(self, tokens: torch.Tensor) -> torch.Tensor:
        """Standardised tokens back in the encoder's space (for its projection, zero-shot)."""
        return tokens * self.token_std + self.token_mean

    def balance_parameter(self) -> torch.Tensor:
        """The compressor's last weight, where adversarial and reconstruction gradients are balanced."""
        return self.compressor.layers[-1].weight

    def compress(self, standardised: torch.Tensor) -> torch.Tensor:
        return self.compressor(standardised)

    def forward(self, standardised: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        compressed = self.compressor(standardised)
        return compressed, self.decoder(compressed)


def save_token_autoencoder(model: TokenAutoencoder, folder: str | Path) -> Path:
    """``autoencoder.safetensors`` + ``autoencoder.json`` (settings) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "autoencoder.json", asdict(model.config))
    save_weights(model, folder / "autoencoder.safetensors")
    return folder


def load_token_autoencoder(folder: str | Path) -> TokenAutoencoder:
    folder = Path(folder)
    settings = folder / "autoencoder.json"
    try:
        config = TokenAutoencoderConfig(**json.loads(settings.read_text()))
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(f"{settings}: cannot read the autoencoder's settings ({e})") from None
    model = TokenAutoencoder(config)
    load_weights(model, folder / "autoencoder.safetensors")
    return model.eval()
