"""Chapter 02's stage on the tiny world: end-to-end fine-tuning updates the encoder, its control does
not, and a fine-tuned grounding model saves and loads with its own encoder."""

import json

import pytest
import torch

from mmdl_lib.chapters.talk2car import pipeline as talk2car
from mmdl_lib.chapters.talk2car.model import load_grounding, predict, save_grounding
from mmdl_lib.models.student import StudentConfig, build_student, save_student


@pytest.fixture(scope="module")
def setting(tiny_world):
    cfg = talk2car.Talk2CarConfig.from_profile("smoke", data_root=str(tiny_world / "talk2car"), image_width=128,
                                               image_height=64, batch_size=2, epochs=1, finetune_epochs=1,
                                               finetune_lr=1e-3, holdout_fraction=0.34, d_model=32)
    splits = talk2car.load_splits(cfg, talk2car.resolve_talk2car_root(cfg))
    torch.manual_seed(0)
    encoder = build_student(StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=64, multiscale=True,
                                          map_dim=16))
    device = torch.device("cpu")
    features = {s: talk2car.extract_features(encoder, getattr(splits, s), device) for s in ("train", "val")}
    text = {s: torch.randn(len(getattr(splits, s)), 24, generator=torch.Generator().manual_seed(1))
            for s in ("train", "val")}
    model, _ = talk2car.train_grounding(cfg, encoder, features, text, splits, device)
    return cfg, splits, encoder, features, text, model


def _encoder_state(model):
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


@pytest.mark.parametrize("end_to_end", [True, False])
def test_fine_tuning_updates_the_encoder_and_its_control_does_not(setting, end_to_end):
    cfg, splits, _, features, text, model = setting
    before, head_before = _encoder_state(model), {k: v.clone() for k, v in model.head.state_dict().items()}
    tuned, history = talk2car.finetune_grounding(cfg, model, features, text, splits, torch.device("cpu"),
                                                 end_to_end=end_to_end)
    changed = [k for k, v in tuned.encoder.state_dict().items() if not torch.equal(v, before[k])]
    assert bool(changed) == end_to_end, changed[:3]
    assert any(not torch.equal(v, head_before[k]) for k, v in tuned.head.state_dict().items())  # the head learns in both
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items())  # the input model is untouched
    assert len(history) == cfg.finetune_epochs and 0.0 <= history[-1]["val_ap50"] <= 1.0
    assert tuned.freeze_encoder is not end_to_end


def test_the_encoder_learns_at_its_own_lower_rate(setting):
    cfg, splits, _, features, text, model = setting
    seen = {}
    original = torch.optim.lr_scheduler.OneCycleLR.__init__

    def spy(self, optimizer, max_lr, **kwargs):
        seen["max_lr"] = max_lr
        original(self, optimizer, max_lr, **kwargs)

    torch.optim.lr_scheduler.OneCycleLR.__init__ = spy
    try:
        talk2car.finetune_grounding(cfg, model, features, text, splits, torch.device("cpu"), end_to_end=True)
    finally:
        torch.optim.lr_scheduler.OneCycleLR.__init__ = original
    assert seen["max_lr"] == pytest.approx([cfg.finetune_lr, cfg.finetune_lr * cfg.encoder_lr_mult])


def test_a_fine_tuned_model_saves_its_encoder_and_predicts_the_same_after_loading(setting, tmp_path):
    cfg, splits, encoder, features, text, model = setting
    tuned, _ = talk2car.finetune_grounding(cfg, model, features, text, splits, torch.device("cpu"), end_to_end=True)
    student = save_student(encoder, tmp_path / "student", {})
    folder = save_grounding(tmp_path / "grounding", tuned, cfg.to_dict(), student, text["val"].shape[1])
    assert json.loads((folder / "grounding_config.json").read_text())["encoder_finetuned"] is True
    loaded, _ = load_grounding(folder)
    maps = talk2car.extract_features(tuned.encoder, splits.val, torch.device("cpu"))
    maps_loaded = talk2car.extract_features(loaded.encoder, splits.val, torch.device("cpu"))
    assert torch.equal(maps, maps_loaded)
    assert not torch.equal(maps, features["val"])  # the fine-tuned encoder's maps, not chapter 01's
    args = (splits.val.image_index, text["val"], torch.device("cpu"))
    assert torch.allclose(predict(tuned, maps, *args), predict(loaded, maps_loaded, *args))


def test_the_grounding_model_exports_to_onnx_and_matches_pytorch(setting, tmp_path):
    _, splits, _, _, text, model = setting
    report = talk2car.export_grounding(model, splits.val, text["val"], tmp_path, batches=[1, 8], repeats=1)
    assert (tmp_path / "grounding.onnx").is_file() and report["file_MB"] > 0
    assert report["parity"]["min_cosine"] >= 0.999 and report["parity"]["rows"] == min(64, len(splits.val))
    assert set(report["latency_ms_per_command_cpu"]) == {"batch 1", "batch 8"}  # 8 > the 6 commands: cycled
    runtimes = ("PyTorch eager", "PyTorch channels-last", "onnxruntime")
    assert set(report["latency_ms_per_command_cpu"]["batch 8"]) == {f"{r}{q}" for r in runtimes
                                                                    for q in ("", " q1", " q3")}  # median, quartiles


@pytest.mark.parametrize("compare", [True, False])
def test_the_comparison_runs_the_control_only_when_asked(setting, compare, tmp_path):
    cfg, splits, _, features, text, model = setting
    cfg = talk2car.Talk2CarConfig(**{**cfg.to_dict(), "compare": compare})
    results, tuned, histories, boxes = talk2car.compare_finetuning(cfg, model, features, text, splits,
                                                                   torch.device("cpu"), tmp_path)
    arms = list(talk2car.FINETUNE_ARMS) if compare else ["end to end, encoder fine-tuned"]
    assert list(tuned) == list(histories) == list(boxes) == arms
    assert all(b.shape == (len(splits.val), 4) for b in boxes.values())
    assert list(results) == [f"+{cfg.finetune_epochs} epochs, {arm}" for arm in arms]
    assert all(0.0 <= r["ap50"] <= 1.0 for r in results.values())
    assert [tuned[arm].freeze_encoder for arm in arms] == [not talk2car.FINETUNE_ARMS[arm] for arm in arms]
    assert (tmp_path / "finetune" / "latest.json").is_file()  # each arm checkpoints in its own folder
