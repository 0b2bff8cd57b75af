"""Attentive probe: one learned query attends over a token set, then a linear classifier (chapter 05).

A linear probe on the mean token cannot tell average pooling from the full grid (the mean of the
block means is the mean), so what compression costs a model that *reads the tokens* is measured
with an attentive probe, as MAE, AIM and V-JEPA evaluate frozen token features. It trains in
seconds on cached tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...progress import tqdm
from ...runtime import reproducible_kernels, seed_everything


class AttentiveProbe(nn.Module):
    def __init__(self, dim: int, num_classes: int, heads: int = 4):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) token grid → (B, classes) logits."""
        x = self.norm(tokens.flatten(2).transpose(1, 2))
        pooled, _ = self.attention(self.query.expand(x.shape[0], -1, -1), x, x, need_weights=False)
        return self.classifier(pooled[:, 0])


def fit_attentive_probe(train: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int = 30,
                        batch_size: int = 64, lr: float = 1e-3, seed: int = 0) -> AttentiveProbe:
    """Train a probe on (N, D, h, w) tokens with AdamW and cross-entropy; returns it in eval mode."""
    seed_everything(seed)
    probe = AttentiveProbe(train.shape[1], num_classes)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=0.05)
    draw = torch.Generator().manual_seed(seed)
    with reproducible_kernels(train.device):
        for _ in tqdm(range(epochs), desc="attentive probe"):
            for index in torch.randperm(len(train), generator=draw).split(batch_size):
                loss = F.cross_entropy(probe(train[index]), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return probe.eval()
