"""Chapter 05's compressor, decoders, critics and autoencoder: shapes, receptive fields, save/load."""

import json

import pytest
import torch
import torch.nn.functional as F

from mmdl_lib.chapters.token_compression.autoencoder import (TokenAutoencoder, TokenAutoencoderConfig,
                                                             load_token_autoencoder, save_token_autoencoder)
from mmdl_lib.chapters.token_compression.compressor import (TokenCompressor, average_pool_tokens, block_slices,
                                                            blocks_to_grid, grid_to_blocks, layer_strides)
from mmdl_lib.chapters.token_compression.critic import build_critic
from mmdl_lib.chapters.token_compression.decoder import AttentionTokenDecoder, ConvTokenDecoder
from mmdl_lib.errors import CheckpointError, ConfigError


@pytest.mark.parametrize("grid, strides", [(4, [3, 2, 1]), (6, [2, 2, 1]), (8, [3, 1, 1]), (12, [2, 1, 1])])
def test_every_seed_setting_gives_its_grid(grid, strides):
    assert layer_strides(24, grid, 3) == strides
    compressor = TokenCompressor(16, 24, grid, num_layers=3)
    out = compressor(torch.randn(2, 16, 24, 24))
    assert out.shape == (2, 16, grid, grid)
    assert compressor.ratio == (24 / grid) ** 2


def test_fewer_layers_than_factors_and_bad_grids():
    assert layer_strides(24, 4, 1) == [6]
    assert TokenCompressor(8, 24, 4, num_layers=1)(torch.randn(1, 8, 24, 24)).shape == (1, 8, 4, 4)
    with pytest.raises(ConfigError, match=r"does not divide.*choose one of \[1, 2, 3, 4, 6, 8, 12, 24\]"):
        TokenCompressor(8, 24, 5)
    with pytest.raises(ConfigError, match="built for a 24×24 token grid"):
        TokenCompressor(8, 24, 6)(torch.randn(1, 8, 12, 12))


def test_residual_compressor_starts_as_average_pooling():
    tokens = torch.randn(2, 8, 24, 24)
    compressor = TokenCompressor(8, 24, 6, use_residual=True)
    assert torch.allclose(compressor(tokens), average_pool_tokens(tokens, 6), atol=1e-6)
    assert torch.allclose(average_pool_tokens(tokens, 6)[0, :, 1, 2], tokens[0, :, 4:8, 8:12].mean((1, 2)))


def test_block_mapping_round_trips_and_names_the_receptive_field():
    grid = torch.randn(2, 3, 12, 12)
    blocks = grid_to_blocks(grid, 4)  # r = 3
    assert blocks.shape == (2, 16, 9, 3)
    assert torch.equal(blocks_to_grid(blocks, 4), grid)
    rows, cols = block_slices(4, 12, 1, 2)
    assert (rows, cols) == (slice(3, 6), slice(6, 9))
    # block 1·4 + 2 holds exactly the tokens of that slice, row-major
    assert torch.equal(blocks[0, 6], grid[0, :, rows, cols].flatten(1).T)


def test_conv_decoder_rebuilds_each_block_from_its_own_token():
    decoder = ConvTokenDecoder(4, 12, 4, hidden_dim=8, context_kernel=1)
    torch.nn.init.normal_(decoder.expand.weight)
    compressed = torch.randn(1, 4, 4, 4)
    base = decoder(compressed)
    assert base.shape == (1, 4, 12, 12)
    moved = compressed.clone()
    moved[0, :, 1, 2] += 1.0
    changed = (decoder(moved) - base).abs().sum(1)[0] > 1e-6
    rows, cols = block_slices(4, 12, 1, 2)
    expected = torch.zeros(12, 12, dtype=torch.bool)
    expected[rows, cols] = True
    assert torch.equal(changed, expected)


def test_decoders_start_from_the_block_token():
    compressed = torch.randn(2, 8, 6, 6)
    upsampled = F.interpolate(compressed, size=(24, 24), mode="nearest")
    for decoder in (ConvTokenDecoder(8, 24, 6), AttentionTokenDecoder(8, 24, 6, hidden_dim=16, heads=2)):
        assert torch.allclose(decoder(compressed), upsampled, atol=1e-6)


def test_attention_decoder_learns_a_detail_per_position():
    decoder = AttentionTokenDecoder(8, 12, 3, hidden_dim=16, heads=2)
    torch.nn.init.normal_(decoder.out.weight)
    out = decoder(torch.randn(2, 8, 3, 3))
    assert out.shape == (2, 8, 12, 12)
    block = out[0, :, 0:4, 0:4].flatten(1)
    assert not torch.allclose(block[:, 0], block[:, 5])  # positions inside one block differ


@pytest.mark.parametrize("kind", ["single", "multiscale"])
def test_critics_score_grids_of_any_size(kind):
    critic = build_critic(kind, 8, 16)
    for size in (24, 6, 4):
        assert critic(torch.randn(3, 8, size, size)).shape == (3,)
    with pytest.raises(ValueError, match="critic must be"):
        build_critic("patch", 8)


def test_autoencoder_saves_and_loads_with_its_settings(tmp_path):
    model = TokenAutoencoder(TokenAutoencoderConfig(8, 12, 3, num_layers=2, decoder="attention", hidden_dim=16))
    model.fit_standardisation(torch.randn(10, 8, 12, 12) * 3 + 1)
    torch.nn.init.normal_(model.decoder.out.weight)
    folder = save_token_autoencoder(model, tmp_path / "ae")
    loaded = load_token_autoencoder(folder)
    tokens = model.standardise(torch.randn(2, 8, 12, 12))
    for a, b in zip(model.eval()(tokens), loaded(tokens)):
        assert torch.allclose(a, b)
    assert torch.allclose(loaded.restore(loaded.standardise(tokens)), tokens, atol=1e-5)
    (folder / "autoencoder.json").write_text(json.dumps({"dim": 8, "grid": 12}))
    with pytest.raises(CheckpointError, match="autoencoder.json"):
        load_token_autoencoder(folder)
