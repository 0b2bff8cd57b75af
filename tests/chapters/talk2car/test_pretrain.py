"""Chapter 02's ImageNet-style encoder: pre-trained as a classifier once, then read from the cache."""

import torch

import mmdl_lib.chapters.talk2car.pretrain as pretrain
from mmdl_lib.models.student import StudentConfig, random_init

CONFIG = StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=48)


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_encoder_is_pretrained_once_then_loaded_from_the_cache(isolated_home, monkeypatch):
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    untrained = random_init(CONFIG)
    torch.manual_seed(0)  # the same initial weights: what differs is the pre-training
    first = pretrain.imagenet_initialised_encoder(CONFIG, 1, cpu, seed=0, preset="tiny")
    assert not _same(first, untrained)
    calls = []
    monkeypatch.setattr(pretrain, "pretrain_classifier", lambda *a, **k: calls.append(a))
    again = pretrain.imagenet_initialised_encoder(CONFIG, 1, cpu, seed=0, preset="tiny")
    assert calls == [] and _same(again, first)


def test_without_epochs_a_rehearsal_builds_the_architecture_without_timm_weights(monkeypatch):
    built = []
    monkeypatch.setattr(pretrain, "build_student", lambda config: built.append(config) or "encoder")
    assert pretrain.imagenet_initialised_encoder(CONFIG, 0, torch.device("cpu"), rehearse=True) == "encoder"
    assert built[0].pretrained is False and built[0].backbone == "convnext_atto"
