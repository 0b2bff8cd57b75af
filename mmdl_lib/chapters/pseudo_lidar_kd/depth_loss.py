"""Depth losses for chapter 03's small GLPN: the multi-scale gradient-matching term.

GLPN's own loss (scale-invariant log error, Eigen et al.) scores every pixel's depth on its own, so
a network that paints a car with the depth of the road behind and below it pays little: the car is
a few per cent of the pixels. Back-projected, such a car is a ramp on the road, and a detector sees
no car at all. The gradient-matching term of MegaDepth (Li & Snavely, 2018; also MiDaS's) compares
the *differences* of the log-depth error between neighbouring pixels, at several scales: it is zero
when the prediction's edges and flat faces are where the truth's are, whatever a constant offset,
and large along a car's outline when the car is missing.
"""

from __future__ import annotations

import torch


def gradient_matching_loss(predicted: torch.Tensor, target: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Mean over ``scales`` (steps 1, 2, 4, …) of |∂x R| + |∂y R| per valid pixel, with R = log predicted −
    log target; ``target`` 0 marks pixels without depth, and a difference counts only between two
    valid pixels. ``predicted`` and ``target`` are (B, H, W) depths in the same unit."""
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and target {tuple(target.shape)} differ in shape")
    valid = target > 0
    residual = torch.where(valid, torch.log(predicted.clamp(min=1e-3)) - torch.log(target.clamp(min=1e-3)),
                           torch.zeros_like(predicted))
    total = predicted.new_zeros(())
    for scale in range(scales):
        step = 2 ** scale
        r, v = residual[..., ::step, ::step], valid[..., ::step, ::step]
        across = (r[..., :, 1:] - r[..., :, :-1]).abs() * (v[..., :, 1:] & v[..., :, :-1])
        down = (r[..., 1:, :] - r[..., :-1, :]).abs() * (v[..., 1:, :] & v[..., :-1, :])
        total = total + (across.sum() + down.sum()) / v.sum().clamp(min=1)
    return total / scales
