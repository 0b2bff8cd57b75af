"""OOD semantic augmentation by attention-feature perturbation (chapter 04, TDOS).

TDOS synthesises out-of-distribution prototypes without pasting foreign objects: inside a region
of a training image, the self-attention sub-block of one CLIP block is perturbed, so the rest of
the network sees features that belong to no in-distribution class there, and the region is
labelled "OOD". :func:`sample_ood_regions` draws the regions: whole objects of the image's thing
classes (a car whose semantics are varied keeps its shape: "an object, but not a known one") and
blobs on the road, where road anomalies lie. The perturbation has two parts:

1. :func:`shuffled_value_attention`: each token keeps its query and the image's keys, but reads the
   values of randomly shuffled tokens: content from elsewhere in the scene;
2. :func:`perturb_attention_features`: the sub-block's output features (the residual stream after
   attention) are moved towards a channel-shuffled, rescaled, noised version of themselves by a
   random amount up to ``strength``, so no two prototypes coincide.

Measured on the synthetic world (chapter 04): perturbing only the attention output (before it is
added to the residual stream) moved the last layer's tokens by a cosine of 0.96 at most, and the
OOD class learned nothing from it (its AP at or below the max-logit baseline's); perturbing the
sub-block's output at strength 1 moves them to a cosine of about 0.06, and the trained model's OOD
share on a perturbed region rises from about 0.02 to 0.14 and beyond."""

from __future__ import annotations

import torch
from torch import nn

ROAD_TRAIN_ID = 0
THING_TRAIN_IDS = (11, 12, 13, 14, 15, 16, 17, 18)  # person … bicycle: Cityscapes' things


def shuffled_value_attention(attention: nn.MultiheadAttention, tokens: torch.Tensor,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Self-attention over ``tokens`` (B, L, C) whose values are those of a random permutation of
    the tokens: queries and keys decide the weights, the content comes from elsewhere."""
    order = torch.randperm(tokens.shape[1], generator=generator).to(tokens.device)
    return attention(tokens, tokens, tokens[:, order], need_weights=False)[0]


def perturb_attention_features(features: torch.Tensor, strength: float = 1.0,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """New prototypes from attention features (N, C): each moved towards a version whose channels
    are shuffled by one random permutation, scaled per channel and shifted by noise of the features'
    own spread. How far (λ ∈ [strength/4, strength]) is drawn per call, so prototypes range from
    near the in-distribution features to far from them, each keeping their scale but not their meaning."""
    if features.numel() == 0:
        return features
    n, c = features.shape
    options = {"generator": generator, "device": "cpu"}
    amount = strength * (0.25 + 0.75 * torch.rand(1, **options).item())
    permutation = torch.randperm(c, **options).to(features.device)
    scale = 1 + torch.randn(1, c, **options).to(features)
    spread = features.detach().std().clamp_min(1e-6)
    noise = spread * torch.randn(n, c, **options).to(features)
    return (1 - amount) * features + amount * (features[:, permutation] * scale + noise)


def _blob(height: int, width: int, centre: tuple[float, float], radii: tuple[float, float],
          angle: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    dy, dx = ys - centre[0], xs - centre[1]
    cos, sin = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    return (u / radii[1]) ** 2 + (v / radii[0]) ** 2 <= 1


def _instances(labels: torch.Tensor, thing_ids: tuple[int, ...], min_pixels: int) -> list[torch.Tensor]:
    """Connected regions of thing classes (cars, people, …) in a label map (H, W), as masks."""
    from scipy import ndimage

    found = []
    for thing in thing_ids:
        components, count = ndimage.label((labels == thing).numpy())
        for k in range(1, count + 1):
            mask = torch.from_numpy(components == k)
            if mask.sum() >= min_pixels:
                found.append(mask)
    return found


def sample_ood_regions(labels: torch.Tensor, probability: float = 0.5, max_regions: int = 2,
                       radius: tuple[float, float] = (0.03, 0.12), generator: torch.Generator | None = None,
                       anchor_id: int = ROAD_TRAIN_ID, object_fraction: float = 0.0,
                       thing_ids: tuple[int, ...] = THING_TRAIN_IDS, min_object_pixels: int = 64) -> torch.Tensor:
    """Boolean masks (B, H, W) of OOD regions; an image gets 1…``max_regions`` of them with ``probability``.
    Each region is, with ``object_fraction``, the whole of one object of a thing class in the image
    (its semantics varied, its shape kept), otherwise a random ellipse centred on a pixel of class
    ``anchor_id`` (the road) whose radii are ``radius`` × the image height."""
    b, h, w = labels.shape
    masks = torch.zeros(b, h, w, dtype=torch.bool)
    labels = labels.cpu()
    for i in range(b):
        if torch.rand(1, generator=generator).item() >= probability:
            continue
        anchors = (labels[i] == anchor_id).nonzero()
        objects = _instances(labels[i], thing_ids, min_object_pixels) if object_fraction > 0 else []
        count = int(torch.randint(1, max_regions + 1, (1,), generator=generator))
        for _ in range(count):
            if objects and torch.rand(1, generator=generator).item() < object_fraction:
                masks[i] |= objects[int(torch.randint(len(objects), (1,), generator=generator))]
                continue
            if len(anchors) == 0:
                continue
            y, x = anchors[int(torch.randint(len(anchors), (1,), generator=generator))].tolist()
            low, high = radius[0] * h, radius[1] * h
            radii = tuple(float(low + (high - low) * torch.rand(1, generator=generator)) for _ in range(2))
            angle = float(torch.rand(1, generator=generator) * torch.pi)
            masks[i] |= _blob(h, w, (y, x), radii, angle)
    return masks
