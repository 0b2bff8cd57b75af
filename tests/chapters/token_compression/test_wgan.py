"""Chapter 05's WGAN-GP loop: n_critic steps counted, block samples, the adaptive weight, resuming."""

import pytest
import torch

from mmdl_lib.chapters.token_compression.autoencoder import TokenAutoencoder, TokenAutoencoderConfig
from mmdl_lib.chapters.token_compression.critic import build_critic
from mmdl_lib.chapters.token_compression.losses import ReconstructionLoss
from mmdl_lib.chapters.token_compression.wgan import WGANSettings, adaptive_weight, block_samples, fit_wgan_gp
from mmdl_lib.engine.checkpoint import CheckpointError
from mmdl_lib.io import write_json


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model = TokenAutoencoder(TokenAutoencoderConfig(4, 8, 2, num_layers=2, hidden_dim=8))
    return model, build_critic("single", 4, 8)


def _fit(model, critic, tokens, epochs, n_critic=3, checkpoint_dir=None):
    settings = WGANSettings(epochs=epochs, batch_size=4, n_critic=n_critic, lr=1e-3, critic_lr=1e-3)
    return fit_wgan_gp(model, critic, tokens, settings, ReconstructionLoss(), torch.device("cpu"), seed=0,
                       checkpoint_dir=checkpoint_dir)


def test_n_critic_critic_steps_per_compressor_step():
    model, critic = _parts()
    result = _fit(model, critic, torch.randn(10, 4, 8, 8), epochs=2, n_critic=3)
    assert result.steps == {"generator": 2 * 3, "critic": 3 * 2 * 3}  # ⌈10/4⌉ = 3 batches per epoch
    assert len(result.history) == 2 and len(result.step_log) == 6
    row = result.history[-1]
    assert {"critic_loss", "gradient_penalty", "wasserstein", "ae_total", "adaptive_weight"} <= set(row)


def test_block_samples_draw_one_token_of_each_block():
    tokens = torch.arange(8 * 8, dtype=torch.float).reshape(1, 1, 8, 8).repeat(3, 2, 1, 1)
    samples = block_samples(tokens, 2, torch.Generator().manual_seed(0))
    assert samples.shape == (3, 2, 2, 2)
    for i in range(2):
        for j in range(2):
            block = tokens[0, 0, 4 * i:4 * i + 4, 4 * j:4 * j + 4]
            assert all(samples[b, 0, i, j] in block for b in range(3))
    assert torch.equal(samples[:, 0], samples[:, 1])  # every channel of a token comes from one position


def test_adaptive_weight_is_the_ratio_of_gradient_norms():
    p = torch.ones(3, requires_grad=True)
    rec = (p * torch.tensor([3.0, 4.0, 0.0])).sum()  # gradient norm 5
    adv = (p * torch.tensor([0.0, 0.0, 0.5])).sum()  # gradient norm 0.5
    assert adaptive_weight(rec, adv, p).item() == pytest.approx(10.0)


def test_training_only_the_critic_leaves_the_compressor_alone():
    model, critic = _parts()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = WGANSettings(epochs=1, batch_size=4, n_critic=1, w_wgan=0.0, w_ae=0.0, lr=0.0, critic_lr=1e-2)
    critic_before = [p.clone() for p in critic.parameters()]
    fit_wgan_gp(model, critic, torch.randn(8, 4, 8, 8), settings, ReconstructionLoss(), torch.device("cpu"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, critic.parameters()))


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path):
    tokens = torch.randn(10, 4, 8, 8)
    model, critic = _parts()
    _fit(model, critic, tokens, epochs=2)
    model_a, critic_a = _parts()
    _fit(model_a, critic_a, tokens, epochs=2, checkpoint_dir=tmp_path / "ckpt")
    # pretend the run stopped after epoch 1: the pointer names the first checkpoint
    write_json(tmp_path / "ckpt" / "latest.json", {"epoch": 1, "path": "epoch_0001"})
    model_b, critic_b = _parts(seed=1)  # a new process: other initial weights, restored from the checkpoint
    result = _fit(model_b, critic_b, tokens, epochs=2, checkpoint_dir=tmp_path / "ckpt")
    assert result.steps["generator"] == 3  # only epoch 2 was trained
    assert len(result.step_log) == 6 and len(result.history) == 2  # the log of epoch 1 came back
    for a, b in zip(model.state_dict().values(), model_b.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(CheckpointError, match="other settings"):
        _fit(*_parts(), tokens, epochs=3, checkpoint_dir=tmp_path / "ckpt")
