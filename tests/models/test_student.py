"""Chapter 02's random encoder: drawn from its seed alone."""

import torch

from mmdl_lib.models.student import StudentConfig, random_init

CONFIG = StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=48)


def _weights(model) -> list[torch.Tensor]:
    return list(model.state_dict().values())


def test_a_seeded_random_encoder_ignores_what_drew_before_and_leaves_the_generator_alone():
    torch.manual_seed(123)
    first = random_init(CONFIG, seed=0)
    after_first = torch.rand(1)
    torch.manual_seed(7)
    torch.rand(1000)  # another history: an encoder trained in this process instead of loaded
    second = random_init(CONFIG, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(second)))
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after_first)  # the global generator did not move
    other = random_init(CONFIG, seed=1)
    assert not all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(other)))
