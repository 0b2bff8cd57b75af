"""Chapter 05's configuration: the seed's Hydra overrides, variants, and a missing dataset."""

import pytest

from mmdl_lib.chapters.token_compression import pipeline as stage
from mmdl_lib.errors import ConfigError, DataFormatError


def test_hydra_overrides_map_onto_parameters():
    values = stage.hydra_overrides(["model.compressor.output_grid_size=8", "training.learning_rate=1e-4",
                                    "model.autoencoder.use_attention=true", "loss.wgan.lambda_gp=20.0",
                                    "training.n_critic=10", "data.use_subset=false"])
    assert values == {"output_grid_size": 8, "lr": 1e-4, "decoder": "attention", "lambda_gp": 20.0, "n_critic": 10,
                      "subset_size": None}
    assert stage.hydra_overrides(["data.use_subset=true", "data.subset_size=1000"]) == {"subset_size": 1000}
    with pytest.raises(ConfigError, match="training.lr=1"):
        stage.hydra_overrides(["training.lr=1"])


def test_config_from_a_notebook_namespace_applies_overrides_last():
    cfg = stage.config_from({"profile": "smoke", "epochs": 3, "overrides": ["training.epochs=5",
                                                                           "model.discriminator.use_multiscale=true"]})
    assert (cfg.epochs, cfg.critic, cfg.encoder) == (5, "multiscale", stage.SMOKE_ENCODER)
    with pytest.raises(ConfigError, match="'n_critic'"):
        stage.config_from({"overrides": ["training.n_critic=many"]})
    with pytest.raises(ConfigError, match="unknown variant"):
        stage.config_from({"variants": ["no_critic"]})


def test_profiles():
    full = stage.TokenCompressionConfig.from_profile("full")
    assert (full.encoder, full.image_size, full.output_grid_size, full.lambda_gp, full.n_critic, full.w_wgan,
            full.w_ae, full.lr, full.epochs) == ("openai/clip-vit-large-patch14-336", 336, 6, 10.0, 5, 1.0, 1.0, 1e-4, 100)
    assert full.table_grid_sizes == [4, 6, 8, 12]


def test_full_profile_without_imagenet_names_the_missing_folder(isolated_home):
    with pytest.raises(DataFormatError, match="imagenet/train.*ImageNet layout"):
        stage.resolve_image_root(stage.TokenCompressionConfig.from_profile("full"))
