"""Chapter 05's losses on hand-made tensors: WGAN-GP terms, the gradient penalty, reconstruction."""

import pytest
import torch

from mmdl_lib.chapters.token_compression.losses import (ReconstructionLoss, cosine_loss, critic_loss,
                                                        generator_adversarial_loss, gradient_penalty, mse_loss,
                                                        spatial_consistency_loss)


def test_critic_and_generator_losses_by_hand():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert critic_loss(real, fake) == pytest.approx(0.0 - 2.0)  # E[fake] − E[real]
    assert generator_adversarial_loss(fake) == pytest.approx(0.0)
    assert generator_adversarial_loss(torch.tensor([2.0, 4.0])) == pytest.approx(-3.0)


def test_gradient_penalty_of_a_linear_critic_has_the_known_norm():
    # D(x) = Σ w·x has gradient w everywhere: ‖w‖ = 3 → penalty (3 − 1)² = 4, for any interpolation
    w = torch.zeros(2, 2, 2)
    w[0, 0, 0], w[1, 1, 1] = 3 * 0.6, 3 * 0.8

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.randn(5, 2, 2, 2), torch.randn(5, 2, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(4.0, rel=1e-5)
    # a mean over T = 8 tokens divides the gradient by 8: ‖w‖/8 = 0.375 → (0.375 − 1)² = 0.390625
    assert gradient_penalty(lambda x: critic(x) / 8, real, fake).item() == pytest.approx(0.390625, rel=1e-5)


def test_gradient_penalty_interpolates_per_sample_and_keeps_the_graph():
    layer = torch.nn.Linear(4, 1)
    critic = lambda x: layer(x.flatten(1)).squeeze(1)  # noqa: E731
    penalty = gradient_penalty(critic, torch.randn(3, 4, 1, 1), torch.randn(3, 4, 1, 1), epsilon=torch.full((3, 1, 1, 1), 0.5))
    penalty.backward()  # create_graph: the penalty trains the critic
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(critic, torch.randn(3, 4, 2, 2), torch.randn(3, 4, 1, 1))


def test_reconstruction_terms_by_hand():
    target = torch.zeros(1, 2, 1, 2)
    target[0, 0, 0, 0], target[0, 1, 0, 1] = 1.0, 1.0  # tokens e0 and e1
    assert mse_loss(target, target) == 0 and cosine_loss(target, target).abs() < 1e-6
    assert cosine_loss(-target, target).item() == pytest.approx(2.0)  # opposite tokens: cos −1
    swapped = target.flip(-1)  # tokens e1 and e0: orthogonal to the originals
    assert cosine_loss(swapped, target).item() == pytest.approx(1.0)
    assert mse_loss(swapped, target).item() == pytest.approx(1.0)  # every element off by 1
    # scaling every token keeps the similarity structure: no spatial loss, but MSE
    assert spatial_consistency_loss(2 * target, target).item() == pytest.approx(0.0, abs=1e-6)
    # swapping keeps it too (e0·e1 = 0 either way); merging both into e0 does not
    merged = torch.zeros_like(target)
    merged[0, 0] = 1.0
    assert spatial_consistency_loss(merged, target).item() == pytest.approx(0.5)  # off-diagonals 1 vs 0, 2 of 4


def test_reconstruction_loss_kinds_and_weights():
    target, recon = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    hybrid = ReconstructionLoss("hybrid", w_mse=2.0, w_cosine=0.5)(recon, target)
    assert set(hybrid) == {"mse", "cosine", "total"}
    assert hybrid["total"].item() == pytest.approx(2 * hybrid["mse"].item() + 0.5 * hybrid["cosine"].item())
    perceptual = ReconstructionLoss("perceptual", w_spatial=3.0)(recon, target)
    assert perceptual["total"].item() == pytest.approx(
        perceptual["mse"].item() + perceptual["cosine"].item() + 3 * perceptual["spatial"].item())
    assert set(ReconstructionLoss("mse")(recon, target)) == {"mse", "total"}
    assert set(ReconstructionLoss("cosine")(recon, target)) == {"cosine", "total"}
    with pytest.raises(ValueError, match="reconstruction loss must be one of"):
        ReconstructionLoss("l1")
