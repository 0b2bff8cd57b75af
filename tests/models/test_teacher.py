"""The CLIP teacher wrapper (chapters 01, 02): no side effects on logging, rebuilt from a run's record."""

import logging

import torch

from mmdl_lib.engine.checkpoint import save_weights
from mmdl_lib.models.teacher import CLIPTeacher


def test_building_a_teacher_leaves_the_root_logger_as_it_was(tmp_path):
    before = list(logging.getLogger().filters)
    teacher = CLIPTeacher("mmdl-vit-tiny-teacher")
    assert logging.getLogger().filters == before
    save_weights(teacher.model, tmp_path / "teacher.safetensors")
    again = CLIPTeacher.from_info({"name": "mmdl-vit-tiny-teacher", "pretrained": None,
                                   "weights": str(tmp_path / "teacher.safetensors")})
    assert not any(p.requires_grad for p in again.parameters())
    images = torch.rand(2, 3, teacher.image_size, teacher.image_size)
    assert torch.allclose(again.encode_image(images), teacher.eval().encode_image(images), atol=1e-5)


def test_the_rehearsal_teacher_is_random_and_saved_once(isolated_home):
    from safetensors.torch import load_file

    from mmdl_lib.models.teacher import random_teacher_weights

    first = random_teacher_weights("mmdl-vit-tiny-teacher", 0)
    again = random_teacher_weights("mmdl-vit-tiny-teacher", 0)
    assert first == again and first.is_file()
    other = load_file(random_teacher_weights("mmdl-vit-tiny-teacher", 1))
    saved = load_file(first)
    assert saved.keys() == other.keys()
    assert any(not torch.equal(saved[k], other[k]) for k in saved), "another seed, other random weights"
