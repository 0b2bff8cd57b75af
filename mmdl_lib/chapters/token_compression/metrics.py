"""What compression keeps (chapter 05): reconstruction quality and downstream accuracy.

- :func:`token_cosine_map` / :func:`reconstruction_report`: each original token against its
  reconstruction (the seed's cosine target is > 0.85; MSE on standardised tokens).
- :func:`compression_report`: a trained compressor + decoder against average pooling at the same
  token count: reconstruction, the trained critic's Wasserstein estimate, token norms.
- :func:`linear_probe_accuracy`: scikit-learn logistic regression on the mean token.
- :func:`probe_accuracy` / :func:`probe_hits`: accuracy (per image) of a trained probe (the attentive one).
- :func:`zero_shot_accuracy`: nearest class-prompt embedding of an image embedding.
- :func:`reconstruction_cosine_map` (one image) and :func:`compression_cost` (against the ViT).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ...metrics.cost import cost_row
from .compressor import average_pool_tokens, nearest_upsample


def token_cosine_map(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, D, G, G) × 2 → (B, G, G) cosine similarity of each reconstructed token with its original."""
    return F.cosine_similarity(recon.float(), target.float(), dim=1)


def reconstruction_report(recon: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    return {"cosine": float(token_cosine_map(recon, target).mean()),
            "mse": float(F.mse_loss(recon.float(), target.float()))}


def linear_probe_accuracy(train: np.ndarray, train_labels: np.ndarray, val: np.ndarray, val_labels: np.ndarray,
                          seed: int = 0) -> float:
    """Validation accuracy of a standardised multinomial logistic regression on (N, features)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
    model.fit(train, train_labels)
    return float(model.score(val, val_labels))


@torch.no_grad()
def probe_hits(probe: torch.nn.Module, tokens: torch.Tensor, labels: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """(N,) 1.0 where a trained probe's prediction is the label, else 0.0."""
    predictions = torch.cat([probe(tokens[i:i + batch_size]).argmax(1) for i in range(0, len(tokens), batch_size)])
    return (predictions == labels).double().cpu().numpy()


def hit_rate(hits: np.ndarray) -> float:
    """Accuracy from per-image hits (:func:`probe_hits`), averaged in float32 as torch averages them."""
    return float(torch.from_numpy(hits).float().mean())


def probe_accuracy(probe: torch.nn.Module, tokens: torch.Tensor, labels: torch.Tensor, batch_size: int = 128) -> float:
    return hit_rate(probe_hits(probe, tokens, labels, batch_size))


def zero_shot_accuracy(image_embeddings: torch.Tensor, class_embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of the most similar class embedding (both normalised) for each image."""
    return float(((image_embeddings @ class_embeddings.T).argmax(1) == labels).float().mean())


@torch.no_grad()
def compression_report(model: torch.nn.Module, critic: torch.nn.Module, val: torch.Tensor,
                   chunk: int = 64) -> dict[str, float]:
    """Compressor vs average pooling at the same token count, on standardised validation tokens
    (in chunks, so a large validation set never sits on the device at once)."""
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    for start in range(0, len(val), chunk):
        target = model.standardise(val[start:start + chunk].to(device))
        compressed, recon = model(target)
        pooled = average_pool_tokens(target, model.config.output_grid)
        baseline = reconstruction_report(nearest_upsample(pooled, target.shape[-1]), target)
        real, norm = critic(target).mean(), target.norm(dim=1).mean()
        row = {**reconstruction_report(recon, target), "avgpool_cosine": baseline["cosine"],
               "avgpool_mse": baseline["mse"], "wasserstein": float(real - critic(compressed).mean()),
               "avgpool_wasserstein": float(real - critic(pooled).mean()),
               "token_norm_ratio": float(compressed.norm(dim=1).mean() / norm),
               "avgpool_token_norm_ratio": float(pooled.norm(dim=1).mean() / norm)}
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + value * len(target) / len(val)
    return sums


@torch.no_grad()
def reconstruction_cosine_map(model, tokens: torch.Tensor) -> torch.Tensor:
    """(G, G) cosine of each reconstructed token with its original, for one image's raw tokens."""
    target = model.standardise(tokens[None].to(next(model.parameters()).device))
    return token_cosine_map(model(target)[1], target)[0].cpu()


@torch.no_grad()
def compression_cost(encoder, model, batch: int = 8) -> dict[str, dict[str, float]]:
    """The compressor's cost against the ViT forward it follows, on the encoder's device."""
    device = next(encoder.parameters()).device
    images = torch.rand(batch, 3, encoder.image_size, encoder.image_size, device=device)
    tokens = encoder.encode_tokens(images)
    vit = cost_row(encoder.image_tower, encoder.encode_tokens, images, repeats=3)
    compressor = cost_row(model.compressor, model.compressor, tokens, repeats=10)
    latency_ms = compressor[f"latency_ms_per_image_{device.type}"]
    compressor["input_tokens_per_s"] = tokens.shape[-1] ** 2 / (latency_ms / 1000)  # one grid per image
    return {"ViT forward": vit, "compressor": compressor}
