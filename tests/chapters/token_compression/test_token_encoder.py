"""Chapter 05's CLIP token encoder, both backends, on small random models (no download)."""

import pytest
import torch

from mmdl_lib.chapters.token_compression import token_encoder
from mmdl_lib.chapters.token_compression.token_encoder import CLIPTokenEncoder, resized_position_embedding
from mmdl_lib.errors import ConfigError
from mmdl_lib.models.teacher import CLIPTeacher

TINY = {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                          "image_size": 48, "patch_size": 8},
        "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        "projection_dim": 16}


def test_transformers_backend_gives_the_patch_grid(monkeypatch):
    monkeypatch.setitem(token_encoder.KNOWN_ARCHITECTURES, "tiny-clip", TINY)
    encoder = CLIPTokenEncoder.from_transformers("tiny-clip", pretrained=False)
    images = torch.rand(2, 3, 60, 60)  # resized to 48 px
    tokens = encoder.encode_tokens(images)
    assert tokens.shape == (2, 32, 6, 6) and encoder.grid == 6 and encoder.width == 32
    joint = encoder.token_embeddings(tokens)
    assert joint.shape == (2, 16) and torch.allclose(joint.norm(dim=1), torch.ones(2))
    assert encoder.encode_text(["a car", "a bus"]).shape == (2, 16)
    assert encoder.encode_image(images).shape == (2, 16)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert encoder.image_tower is encoder.model.vision_model  # costs count the vision tower only
    with pytest.raises(ConfigError, match="expects 48 px"):
        CLIPTokenEncoder.from_transformers("tiny-clip", pretrained=False, image_size=96)
    with pytest.raises(ConfigError, match="not one of"):
        CLIPTokenEncoder.from_transformers("someone/clip", pretrained=False)


def test_open_clip_backend_resizes_position_embeddings():
    teacher = CLIPTeacher("mmdl-vit-tiny-teacher").freeze()  # 48 px, patch 8: a 6×6 grid
    encoder = CLIPTokenEncoder.from_open_clip(teacher, 96)
    tokens = encoder.encode_tokens(torch.rand(2, 3, 96, 96))
    assert tokens.shape == (2, 192, 12, 12)
    assert encoder.token_embeddings(tokens).shape == (2, teacher.embed_dim)
    assert teacher.model.visual.positional_embedding.shape[0] == 37  # the teacher itself is untouched
    with pytest.raises(ConfigError, match="multiple of the patch size"):
        CLIPTokenEncoder.from_open_clip(teacher, 100)


def test_position_embedding_resize_keeps_the_class_token_and_a_constant_grid():
    embedding = torch.cat([torch.full((1, 4), 7.0), torch.ones(36, 4)])
    resized = resized_position_embedding(embedding, 24)
    assert resized.shape == (1 + 576, 4)
    assert torch.equal(resized[0], embedding[0]) and torch.allclose(resized[1:], torch.ones(576, 4), atol=1e-5)
