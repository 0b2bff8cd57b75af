"""Chapter 02's settings per profile (grounding head, encoder variants, fine-tuning), and what its smoke run
must show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...config import StageConfig


@dataclass
class Talk2CarConfig(StageConfig):
    data_root: str | None = None  # Talk2Car root; None → the synthetic world (smoke) or $MMDL_DATA/talk2car (full)
    synthetic_preset: str = "smoke"
    # "all": chapter 01 first if no run exists · "train": needs chapter 01's run · "test": inference only
    mode: Literal["all", "train", "test"] = "all"
    distilled: str | None = None  # folder with student.safetensors; None → the newest chapter-01 run
    encoder_variant: Literal["multiscale", "single"] = "multiscale"
    grounding_checkpoint: str | None = None  # for mode "test"; None → the newest chapter-02 run
    image_width: int = 1600
    image_height: int = 900
    head: Literal["transformer", "projection"] = "transformer"
    text_encoder: Literal["teacher", "minilm"] = "teacher"
    epochs: int = 20
    batch_size: int = 32  # images per batch; all training commands of an image go together
    lr: float = 1e-4
    weight_decay: float = 1e-4
    w_l1: float = 5.0
    w_giou: float = 2.0
    w_attn: float = 1.0  # dense supervision of the transformer head's token scores (0 turns it off)
    w_dense: float = 1.0  # L1 + GIoU on the boxes of the tokens inside the ground truth (0 turns it off)
    d_model: int = 256
    num_layers: int = 3  # decoder layers
    num_encoder_layers: int = 2  # self-attention layers over the image tokens
    # end-to-end fine-tuning, after `epochs` on the frozen encoder's cached maps (linear probe, then fine-tune):
    finetune_encoder: bool = False  # the main model trains `finetune_epochs` more, the encoder unfrozen
    finetune_epochs: int = 3
    finetune_lr: float = 5e-5  # the head's peak rate while fine-tuning; the encoder's is × encoder_lr_mult
    encoder_lr_mult: float = 0.1
    holdout_fraction: float = 0.1  # of the training split, kept for model choice
    compare: bool = True  # baselines, the other head, the other text encoder, other encoder inits, frozen vs fine-tuned
    imagenet_epochs: int = 0  # smoke: pre-train on the synthetic ImageNet-style folder; full: timm weights
    visualize: bool = True
    generate_predictions: bool = True
    latency_batches: list[int] = field(default_factory=lambda: [1, 32])  # the ONNX runtimes are timed at these
    latency_repeats: int = 5  # timed calls per measurement (median)

    PROFILES = {
        "smoke": {"image_width": 256, "image_height": 144, "epochs": 8, "batch_size": 20,
                  "lr": 2e-3, "d_model": 128, "num_layers": 1, "num_encoder_layers": 1, "imagenet_epochs": 6,
                  "finetune_epochs": 2, "finetune_lr": 5e-4},
        "full": {"image_width": 800, "image_height": 450, "finetune_encoder": True},
    }
    # the full profile on a CPU: chapter 01's rehearsal students, one epoch, two images a batch
    REHEARSAL = {"epochs": 1, "batch_size": 2, "finetune_epochs": 1, "latency_batches": [1, 2], "latency_repeats": 1}


CONFIG = Talk2CarConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    val = metrics["val"]
    main = next(v for k, v in val.items() if k.startswith("transformer head"))
    return {"transformer head AP50 at least twice the best trivial baseline":
            main["ap50"] >= 2 * metrics["best_trivial_ap50"],
            "transformer head above the projection head": main["ap50"] > val["projection head"]["ap50"],
            "ONNX grounding model matches PyTorch (cosine ≥ 0.999)": metrics["onnx"]["parity"]["min_cosine"] >= 0.999}
