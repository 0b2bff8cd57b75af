"""Chapter 06's settings per profile, what its smoke run must show, and its record notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...config import StageConfig
from ...errors import ConfigError
from .qlora_vlm import TINY_QWEN2_5_VL

SMOKE_CLIP = "chapter01-teacher"


@dataclass
class CarClassificationConfig(StageConfig):
    data_root: str | None = None  # Hecto root (train/, test/, test.csv, sample_submission.csv); None → synthetic / $MMDL_DATA/hecto
    synthetic_preset: str = "smoke"
    n_folds: int = 5
    fold: int = 0  # the validation fold
    clip_name: str = "ViT-B-32"  # open_clip model; smoke: chapter 01's teacher
    clip_pretrained: str | None = "openai"
    clip_epochs: int = 5
    clip_lr: float = 1e-5
    cnn_backbone: str = "efficientnet_b0"
    cnn_pretrained: bool = True
    cnn_image_size: int = 224
    cnn_epochs: int = 15
    cnn_lr: float = 1e-3
    sentence_model: str = "snunlp/KR-SBERT-V40K-klueNLI-augSTS"  # the seed's Korean SBERT (class names are Korean)
    sentence_pretrained: bool = True  # False: its published architecture with random weights (rehearsal)
    fusion: Literal["weighted", "concat"] = "weighted"
    fusion_alpha: float = 0.5
    feature_backend: Literal["clip", "qwen2_5_vl"] = "qwen2_5_vl"
    head_epochs: int = 60
    head_lr: float = 1e-3
    vlm_name: str = "Qwen/Qwen2.5-VL-7B-Instruct"  # smoke: a tiny model of the same architecture
    vlm_pretrained: bool = True  # False: the published architecture with random weights (rehearsal)
    vlm_layers: int | None = None  # rehearsal only: the first N decoder layers, max(N, 2) vision blocks (7B does not fit a CPU)
    vlm_four_bit: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    vlm_steps: int = 1000
    vlm_batch_size: int = 4
    vlm_lr: float = 2e-4
    vlm_max_image_pixels: int | None = 448 * 448
    top_k: int = 5
    hint_source: Literal["CLIP fine-tuned", "CNN + text"] = "CLIP fine-tuned"  # whose top-K the VLM is handed
    batch_size: int = 64
    num_workers: int = 4

    PROFILES = {
        "smoke": {"clip_name": SMOKE_CLIP, "clip_pretrained": None, "clip_epochs": 12, "clip_lr": 5e-4,
                  "cnn_backbone": "test_efficientnet", "cnn_pretrained": False, "cnn_image_size": 64,
                  "cnn_epochs": 30, "cnn_lr": 5e-3, "sentence_model": "sentence-transformers/all-MiniLM-L6-v2", "feature_backend": "clip",
                  "head_epochs": 150, "head_lr": 3e-3, "vlm_name": TINY_QWEN2_5_VL, "vlm_steps": 40, "vlm_batch_size": 8,
                  "vlm_lr": 1e-3, "vlm_max_image_pixels": None, "batch_size": 32, "num_workers": 0},
        "full": {},
    }
    # the full profile on a CPU: every published architecture with random weights (Qwen2.5-VL-7B with
    # 1 of its 28 decoder layers and 2 of its 32 vision blocks: one 3584-wide layer already takes
    # seconds per image here), the rehearsal preset's 30 training images, one epoch or step per approach
    REHEARSAL = {"clip_pretrained": None, "cnn_pretrained": False, "sentence_pretrained": False,
                 "vlm_pretrained": False, "vlm_layers": 1, "clip_epochs": 1, "cnn_epochs": 1, "head_epochs": 1,
                 "vlm_steps": 1, "vlm_batch_size": 2, "batch_size": 8}

    def __post_init__(self) -> None:
        if self.vlm_layers is not None and self.vlm_pretrained:
            raise ConfigError(f"vlm_layers {self.vlm_layers}: fewer layers only for a random-weight VLM "
                              "(vlm_pretrained=False, the rehearsal); a pretrained checkpoint keeps all of them")

    SMOKE_NOTE = "synthetic Hecto-style set; chapter 01's teacher as CLIP; a tiny random Qwen2.5-VL"

    def rehearsal_note(self) -> str:
        return (f"rehearsal: every model with random weights; {self.vlm_name} built from its published config with "
                f"{self.vlm_layers or 'all'} decoder layer(s), at least two vision blocks and a stand-in tokenizer, "
                f"{self.sentence_model} with a stand-in tokenizer")


CONFIG = CarClassificationConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the smoke run must show (read by the book test from the run record)."""
    scores, prior = metrics["scores"], metrics["scores"]["class prior"]["val"]["log_loss"]
    members = [v["val"]["log_loss"] for k, v in scores.items() if k not in ("class prior", "ensemble")]
    temps = metrics["temperature"]
    return {"best approach's log loss well below the class prior's": min(members) < 0.6 * prior,
            "temperature scaling lowers the best approach's cross-fitted log loss":
                temps[metrics["best_approach"]]["log_loss_after"] <= temps[metrics["best_approach"]]["log_loss_before"],
            "ensemble no worse than its best calibrated member on validation":
                metrics["ensemble_val_log_loss"] <= metrics["best_calibrated_val_log_loss"] + 1e-9}
