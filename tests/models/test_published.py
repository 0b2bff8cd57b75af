import pytest
import torch

from mmdl_lib.errors import ConfigError
from mmdl_lib.models.published import fewer_layers, published_config, published_names

QWEN = "Qwen/Qwen2.5-VL-7B-Instruct"
KR_SBERT = "snunlp/KR-SBERT-V40K-klueNLI-augSTS"


def test_the_shipped_architectures_are_the_full_profiles_models():
    from mmdl_lib.chapters.car_classification.pipeline import CONFIG

    full = CONFIG.from_profile("full")
    assert {full.vlm_name, full.sentence_model} <= set(published_names())
    qwen = published_config(QWEN)
    assert (qwen["text_config"]["hidden_size"], qwen["text_config"]["num_hidden_layers"],
            qwen["text_config"]["vocab_size"], qwen["vision_config"]["depth"]) == (3584, 28, 152064, 32)


def test_an_unknown_model_is_named_with_what_is_known():
    with pytest.raises(ConfigError, match="Qwen/Qwen2.5-VL-72B-Instruct: no published architecture.*known"):
        published_config("Qwen/Qwen2.5-VL-72B-Instruct")


def test_fewer_layers_keeps_windowed_and_full_vision_attention():
    qwen = published_config(QWEN)
    one = fewer_layers(qwen, 1)
    assert one["text_config"]["num_hidden_layers"] == 1
    assert (one["vision_config"]["depth"], one["vision_config"]["fullatt_block_indexes"]) == (2, [1])
    assert one["text_config"]["hidden_size"] == 3584 and one["vision_config"]["out_hidden_size"] == 3584
    assert fewer_layers(qwen, None) == qwen
    with pytest.raises(ConfigError, match="vlm_layers 0"):
        fewer_layers(qwen, 0)


def test_the_rehearsal_vlm_config_is_the_7b_at_one_layer():
    from mmdl_lib.chapters.car_classification.qlora_vlm import SPECIAL_TOKENS, published_qwen2_5_vl_config

    ids = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    config = published_qwen2_5_vl_config(QWEN, 1, ids)
    assert (config.text_config.hidden_size, config.text_config.num_key_value_heads, config.text_config.vocab_size,
            config.text_config.num_hidden_layers) == (3584, 4, 152064, 1)
    assert config.image_token_id == ids["<|image_pad|>"] and not config.tie_word_embeddings


def test_a_pretrained_vlm_keeps_all_its_layers():
    from mmdl_lib.chapters.car_classification.pipeline import CONFIG

    with pytest.raises(ConfigError, match="vlm_layers 2: fewer layers only for a random-weight VLM"):
        CONFIG.from_profile("full", vlm_layers=2)


def test_the_random_sentence_encoder_has_the_published_width(isolated_home):
    from mmdl_lib.models.text import SentenceTextEncoder

    encoder = SentenceTextEncoder(KR_SBERT, pretrained=False)
    embeddings = encoder.encode(["Aster Sedan Gen1", "Borealis Suv Gen2"])
    assert encoder.dim == 768 and embeddings.shape == (2, 768) and torch.isfinite(embeddings).all()
    transformer = encoder.model[0].auto_model
    assert (transformer.config.num_hidden_layers, transformer.config.vocab_size) == (12, 40000)
