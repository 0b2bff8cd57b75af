"""Chapter 06: VLM car-model classification on the Hecto layout (seed 004).

Steps the notebook calls: :func:`load_split`, :func:`~mmdl_lib.data.hecto_cars.car_image_sets`,
:func:`get_clip`, then one
function per approach — :func:`clip_zero_shot` / :func:`finetune_clip` (1), :func:`train_fusion`
(2), :func:`frozen_feature_heads` (3), :func:`qlora_vlm` (4) — and :func:`score_approaches`,
:func:`~.calibration.calibrate_and_ensemble` and
:func:`~.submission.write_outputs`. Each approach
returns class probabilities for the validation fold and the test images; models, metrics and
fitting live in their modules.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.hecto_cars import CarImages, CarSplit, HectoCars, stratified_fold
from ...engine import fit
from ...engine.inference import class_probabilities
from ...engine.trainer import one_cycle_adamw
from ...errors import DataFormatError
from ...metrics.classification import approach_scores, classification_report, prior_probabilities
from ...metrics.cost import count_parameters
from ...models.teacher import CLIPTeacher
from ...models.text import SentenceTextEncoder
from ...region_clip import RegionTeacherConfig, cached_teacher
from ...runtime import seed_everything
from ...synth import dataset_root
from .car_clip import CLIPCarClassifier
from .config import CONFIG, SMOKE_CLIP, CarClassificationConfig, smoke_checks
from .fusion import TextFusionClassifier
from .qlora_vlm import QLoRASettings, hybrid_prompt, load_qlora_vlm, vlm_checkpoint
from .submission import topk_indices, topk_lists
from .vlm_features import FeatureRows, build_feature_extractor, build_feature_head, cached_features
from .vlm_finetune import hybrid_probabilities, score_candidates, train_answers

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "CarClassificationConfig", "SMOKE_CLIP", "smoke_checks"]

Probabilities = dict[str, np.ndarray]  # {"val": (n_val, C), "test": (n_test, C)}


def load_split(cfg: CarClassificationConfig) -> CarSplit:
    root = dataset_root(cfg.data_root, cfg.synthetic, "cars", cfg.synthetic_preset, cfg.seed, folder="hecto")
    if not (root / "train").is_dir():
        raise DataFormatError(root / "train", "Hecto data not found: unpack the competition's train/, test/, "
                              "test.csv and sample_submission.csv there, or pass data_root")
    data = HectoCars.read(root)
    train, val = stratified_fold(data.train_labels, cfg.n_folds, cfg.fold, cfg.seed)
    return CarSplit(data, train, val, data.test_answers(), data.duplicate_index_pairs())


def get_clip(cfg: CarClassificationConfig, device: torch.device) -> tuple[CLIPTeacher, dict]:
    """The pretrained CLIP (full), or chapter 01's locally trained teacher (smoke), frozen."""
    if cfg.clip_name == SMOKE_CLIP:
        return cached_teacher(RegionTeacherConfig.from_profile("smoke", seed=cfg.seed), device)
    clip = CLIPTeacher(cfg.clip_name, cfg.clip_pretrained).to(device).freeze()
    return clip, {"name": cfg.clip_name, "pretrained": cfg.clip_pretrained, "weights": None}


def _fit(cfg: CarClassificationConfig, model, loss_fn, data, epochs: int, lr: float, device, desc: str,
         checkpoint_dir: Path | None, evaluate=None) -> list[dict[str, float]]:
    seed_everything(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = one_cycle_adamw(params, lr, epochs, len(data), cfg.batch_size, weight_decay=0.05)
    return fit(model, optimizer, loss_fn, data, epochs=epochs, batch_size=cfg.batch_size, device=device,
               seed=cfg.seed, scheduler=scheduler, evaluate=evaluate, checkpoint_dir=checkpoint_dir, desc=desc,
               settings=cfg.fingerprint())


def _val_metrics(split: CarSplit, sets, device):
    def evaluate(model) -> dict[str, float]:
        report = classification_report(class_probabilities(model, sets, device, ("val",))["val"], split.labels("val"),
                                       split.pairs)
        return {"val_log_loss": report["log_loss"], "val_accuracy": report["accuracy"]}
    return evaluate


def clip_zero_shot(clip: CLIPTeacher, split: CarSplit, sets, device) -> Probabilities:
    return class_probabilities(CLIPCarClassifier(clip, split.data.classes).eval(), sets, device)


def finetune_clip(cfg, clip: CLIPTeacher, split: CarSplit, sets, device, checkpoint_dir=None):
    """End-to-end contrastive fine-tuning of both towers on (image, class name) pairs."""
    model = CLIPCarClassifier(copy.deepcopy(clip).requires_grad_(True), split.data.classes)
    history = _fit(cfg, model, lambda m, b: {"total": m.contrastive_loss(b["image"], b["label"])}, sets["train"],
                   cfg.clip_epochs, cfg.clip_lr, device, "CLIP fine-tune", checkpoint_dir, _val_metrics(split, sets, device))
    return model.eval(), history


def train_fusion(cfg, split: CarSplit, sets, device, checkpoint_dir=None):
    """EfficientNet + sentence embeddings of the class names; probabilities of the fused and single heads."""
    encoder = SentenceTextEncoder(cfg.sentence_model, pretrained=cfg.sentence_pretrained, seed=cfg.seed)
    text = encoder.encode([n.replace("_", " ") for n in split.data.classes])
    seed_everything(cfg.seed)
    model = TextFusionClassifier(cfg.cnn_backbone, text, cfg.fusion, cfg.fusion_alpha, pretrained=cfg.cnn_pretrained)
    history = _fit(cfg, model, lambda m, b: m.loss(b["image"], b["label"]), sets["train"], cfg.cnn_epochs, cfg.cnn_lr,
                   device, "CNN + text", checkpoint_dir, _val_metrics(split, sets, device))
    model.eval()
    heads = {name: class_probabilities(lambda x, name=name: model.heads(x)[name], sets, device, num_workers=cfg.num_workers)
             for name in ("fused", "visual", "text")}
    return model, heads, history


def frozen_feature_heads(cfg, clip: CLIPTeacher, clip_info: dict, split: CarSplit, sets, device):
    """Features extracted once (cached), then a linear and an MLP head trained on them."""
    source, identity = (vlm_checkpoint(cfg.vlm_name, cfg.vlm_pretrained, cfg.vlm_layers, split.data.classes, cfg.seed)
                        if cfg.feature_backend == "qwen2_5_vl" else (None, None))
    extract, info = build_feature_extractor(cfg.feature_backend, clip, source, device, cfg.vlm_max_image_pixels,
                                            identity)
    weights = {k: clip_info.get(k) for k in ("name", "pretrained", "weights")}  # chapter 01 may retrain its teacher
    features, built = cached_features(extract, {**info, "clip": weights}, sets, ("train_plain", "val", "test"), device,
                                      cfg.num_workers)
    out, histories = {}, {}
    for kind in ("linear", "mlp"):
        seed_everything(cfg.seed)
        head = build_feature_head(kind, features["val"].shape[1], len(split.data.classes))
        histories[kind] = _fit(cfg, head, lambda m, b: {"total": torch.nn.functional.cross_entropy(
            m(b["feature"]), b["label"], label_smoothing=0.1)}, FeatureRows(features["train_plain"], split.labels("train")),
            cfg.head_epochs, cfg.head_lr, device, f"{kind} head", None)
        with torch.no_grad():
            out[kind] = {part: torch.softmax(head.eval()(features[part].to(device)), 1).cpu().numpy()
                         for part in ("val", "test")}
    return out, histories, {**info, "dim": int(features["val"].shape[1]), "cached": not built}


def hint_probabilities(source: str, models: dict[str, tuple[Any, dict[str, CarImages]]],
                       approaches: dict[str, Probabilities], device: torch.device) -> dict[str, np.ndarray]:
    """The hint approach's probabilities on the training images (the VLM's training prompts), val and test."""
    model, sets = models[source]
    return {**class_probabilities(model, sets, device, ("train_plain",)), **approaches[source]}


def qlora_vlm(cfg, split: CarSplit, sets, hint: dict[str, np.ndarray], device, adapter_dir: Path | None = None):
    """4-bit Qwen2.5-VL + LoRA, trained on hybrid prompts (hint = the ``hint_source`` top-K), then scored;
    the trained adapter is saved to ``adapter_dir`` (safetensors, peft's format)."""
    settings = QLoRASettings(cfg.vlm_four_bit, cfg.lora_r, cfg.lora_alpha, max_image_pixels=cfg.vlm_max_image_pixels)
    source, identity = vlm_checkpoint(cfg.vlm_name, cfg.vlm_pretrained, cfg.vlm_layers, split.data.classes, cfg.seed)
    # the adapters' initial weights and dropout draw from torch's generator: seeded here, they do not
    # depend on what ran before (a cold run builds the checkpoint and extracts features first, a warm
    # one reads both from the cache)
    seed_everything(cfg.seed)
    model, processor = load_qlora_vlm(source, settings, device)
    classes = split.data.classes
    prompts = {part: [hybrid_prompt(top) for top in topk_lists(hint[part], classes, cfg.top_k)] for part in hint}
    images = {part: sets[part].image_view() for part in hint}  # read on demand: the real sets do not fit in memory
    answers = [classes[y] for y in split.labels("train")]
    log = train_answers(model, processor, images["train_plain"], prompts["train_plain"], answers, cfg.vlm_steps,
                        cfg.vlm_batch_size, cfg.vlm_lr, device, cfg.seed)
    if adapter_dir is not None:
        model.save_pretrained(adapter_dir)  # adapter weights only
    out = {}
    for part in ("val", "test"):
        candidates = topk_indices(hint[part], cfg.top_k)
        scores = score_candidates(model, processor, images[part], prompts[part],
                                  [[classes[c] for c in row] for row in candidates], device)
        out[part] = hybrid_probabilities(hint[part], candidates, scores)
    return out, log, {**identity, "four_bit": settings.four_bit, "example_prompt": prompts["val"][0],
                      "trainable_parameters": count_parameters(model, True), "parameters": count_parameters(model)}


def score_approaches(approaches: dict[str, Probabilities], split: CarSplit) -> dict[str, dict[str, Any]]:
    """Log loss, accuracy and ECE of every approach and the class prior, duplicate pairs merged."""
    return approach_scores(approaches, {"val": split.labels("val"), "test": split.test_labels}, split.labels("train"),
                           len(split.data.classes), split.pairs)


def part_probabilities(approaches: dict[str, Probabilities], split: CarSplit, part: str = "test") -> dict[str, np.ndarray]:
    """Every approach's probabilities on one part, with the class prior first (for the comparisons)."""
    rows = len(next(iter(approaches.values()))[part])
    return {"class prior": prior_probabilities(split.labels("train"), len(split.data.classes), rows),
            **{name: probs[part] for name, probs in approaches.items()}}


def comparison_part(split: CarSplit) -> str:
    """Where approaches are compared: the held-out test images where their labels are known (smoke),
    else the validation fold (the competition keeps its test labels)."""
    return "test" if split.test_labels is not None else "val"


def part_labels(split: CarSplit, part: str = "test") -> np.ndarray:
    return split.test_labels if part == "test" else split.labels(part)
