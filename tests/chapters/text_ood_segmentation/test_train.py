"""Chapter 04's training engine: resumable epochs, module-wise learning rates, and data-parallel
training in two CPU processes (gloo) under torchrun through the chapter's entry point."""

import json

import pytest
import torch

from mmdl_lib.chapters.text_ood_segmentation.pipeline import TextOODSegConfig
from tests.torchrun import torchrun

TINY = {"synthetic_preset": "tiny", "clip_name": "mmdl-vit-tiny-teacher", "image_size": [64, 128],
        "learnable_cls_num": 2, "concepts_per_band": 0, "batch_size": 1}


def _tiny_model(cfg):
    from mmdl_lib.chapters.text_ood_segmentation import pipeline as stage

    sets = stage.load_sets(cfg, stage.resolve_roots(cfg))
    config = stage.model_config(cfg, stage.get_clip(cfg), stage.pick_ood_concepts(cfg))
    return stage, sets, config


def test_training_resumes_where_its_checkpoint_stopped(isolated_home, capfd, monkeypatch):
    monkeypatch.setenv("MMDL_PROGRESS", "0")  # as in an executed chapter: no progress bar in its outputs
    cfg = TextOODSegConfig.from_profile("smoke", **TINY, epochs=1, max_steps=1)
    stage, sets, config = _tiny_model(cfg)
    folder = isolated_home / "ckpt"
    capfd.readouterr()
    first = stage.train(cfg, stage.build_segmentor(cfg, config, torch.device("cpu")), sets["train"],
                        torch.device("cpu"), folder)
    assert [h["epoch"] for h in first] == [1]
    assert "TDOS 1/1" not in capfd.readouterr().err
    longer = TextOODSegConfig.from_profile("smoke", **TINY, epochs=2, max_steps=1)
    with pytest.raises(Exception, match="other settings"):  # epochs changed: the schedule differs
        stage.train(longer, stage.build_segmentor(longer, config, torch.device("cpu")), sets["train"],
                    torch.device("cpu"), folder)
    again = stage.train(cfg, stage.build_segmentor(cfg, config, torch.device("cpu")), sets["train"],
                        torch.device("cpu"), folder)
    assert again == first  # nothing left to train: the checkpoint's history comes back


def test_module_wise_learning_rate_multipliers_reach_the_optimiser(isolated_home):
    from mmdl_lib.chapters.text_ood_segmentation.train import build_optimizer

    cfg = TextOODSegConfig.from_profile("smoke", **TINY, backbone_lr_mult=0.1)
    stage, _, config = _tiny_model(cfg)
    model = stage.build_segmentor(cfg, config, torch.device("cpu"))
    assert all(p.requires_grad for p in model.backbone.visual.parameters())  # multiplier > 0: unfrozen
    assert not any(p.requires_grad for p in model.decode_head.text_classifier.transformer.parameters())
    optim = build_optimizer(model, 1e-3, 0.05, stage.lr_multipliers(cfg))
    lr_of = {id(p): g["lr"] for g in optim.optimizer.param_groups for p in g["params"]}
    assert lr_of[id(model.backbone.visual.conv1.weight)] == pytest.approx(1e-4)
    assert lr_of[id(model.decode_head.cls_proj.weight)] == pytest.approx(1e-3)


def test_two_gloo_processes_train_one_step_and_keep_identical_replicas(isolated_home):
    out = isolated_home / "ddp"
    parameters = {**TINY, "epochs": 1, "max_steps": 1}
    args = [a for k, v in parameters.items() for a in ("-p", k, json.dumps(v))]
    done = torchrun("-m", "mmdl_lib.cli.tdos_torchrun", "--profile", "smoke", "--out", str(out), *args)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "distributed.json").read_text())
    assert summary["world_size"] == 2
    first, second = summary["replica_checksums"]
    assert first == second  # gradients were averaged: both ranks hold the same weights
    assert (out / "tdos.safetensors").is_file() and summary["history"][0]["loss"] > 0
