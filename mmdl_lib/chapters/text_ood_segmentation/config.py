"""Chapter 04's settings per profile (CLIP backbone, Mask2Former, prompts, OOD augmentation), what its smoke
run must show, and its record notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...config import StageConfig
from ...errors import ConfigError

SMOKE_CLIP = "chapter01-teacher"


@dataclass
class TextOODSegConfig(StageConfig):
    data_root: str | None = None  # Cityscapes (leftImg8bit/, gtFine/); None → synthetic / $MMDL_DATA/cityscapes
    ood_root: str | None = None  # the OOD benchmark; None → synthetic / $MMDL_DATA/<OOD_FOLDERS[layout]>
    ood_layout: Literal["fishyscapes", "smiyc_anomaly", "smiyc_obstacle", "road_anomaly"] = "fishyscapes"
    synthetic_preset: str = "smoke"
    model_config: str = "tdos_cityscapes_full"  # a book config (mmdl_lib/openmmlab/configs) or "mmseg::…"
    clip_name: str = "ViT-B-16"  # open_clip name; smoke: chapter 01's teacher
    clip_pretrained: str | None = "openai"  # open_clip tag; None: random weights (the CPU rehearsal)
    # (height, width) the model sees: whole images resized (mmseg's recipe crops 512×1024 from images
    # rescaled 0.5–2×; the book trains on whole images at half Cityscapes resolution)
    image_size: list[int] = field(default_factory=lambda: [512, 1024])
    n_ctx: int = 8  # CoOp context tokens (the seed's context_length)
    learnable_cls_num: int = 50  # learnable negative prompts
    concepts_per_band: int = 10  # WordNet OOD concepts per distance band (near 3–5, mid 6–8, far 9–12)
    ood_augmentation: bool = True  # attention-feature perturbation regions labelled OOD
    augmentation_probability: float = 0.5  # share of training images that get OOD regions
    augmentation_object_fraction: float = 0.5  # share of regions that are a whole object (else a road blob)
    perturb_strength: float = 1.0  # how far the perturbed features may move (channel shuffle, scale, noise)
    perturb_layer: int = -1  # the CLIP block whose attention output is perturbed
    backbone_lr_mult: float = 0.0  # 0: the CLIP image tower frozen (the seed's default)
    text_encoder_lr_mult: float = 0.0  # 0: the CLIP text encoder frozen
    finetune: bool = False  # the seed's --finetune: eval mode, decoder and prompts only
    load_from: str | None = None  # a trained TDOS checkpoint (safetensors) to start from
    epochs: int = 54  # ≈ the seed's 20k iterations at batch 8 on Cityscapes' 2,975 images
    batch_size: int = 8
    lr: float = 1e-5  # the seed's config name: text_driven_ood_seg_vit-b_1e-5_20k
    weight_decay: float = 0.05
    max_train_images: int | None = None
    max_val_images: int | None = None
    max_ood_images: int | None = None
    max_steps: int | None = None  # per epoch (the rehearsal)
    eval_batch_size: int = 4

    PROFILES = {
        "smoke": {"model_config": "tdos_cityscapes_smoke", "clip_name": SMOKE_CLIP, "clip_pretrained": None,
                  "image_size": [128, 256], "epochs": 6, "batch_size": 4, "lr": 1e-3},
        "full": {},
    }
    # the full profile on a CPU: ViT-B/16 and the packaged Mask2Former with random weights, two
    # real-size synthetic images per split, one step
    REHEARSAL = {"clip_pretrained": None, "epochs": 1, "batch_size": 1, "max_steps": 1, "max_train_images": 2,
                 "max_val_images": 1, "max_ood_images": 2, "eval_batch_size": 1}

    def __post_init__(self) -> None:
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ConfigError(f"image_size {self.image_size}: give [height, width]")
        if self.finetune and self.load_from is None and self.profile == "full" and not self.rehearse:
            raise ConfigError("finetune trains the decoder and prompts of a trained model: set load_from")

    SMOKE_NOTE = "synthetic Cityscapes and Fishyscapes-style OOD set; chapter 01's CLIP teacher as both towers"

    def rehearsal_note(self) -> str:
        return (f"rehearsal: {self.clip_name} and the packaged Mask2Former with random weights, "
                f"{self.max_train_images} real-size synthetic training image(s), {self.max_steps} step(s)")


CONFIG = TextOODSegConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """What the chapter's smoke run must show (read by the book test from the run record)."""
    ood, seg = metrics["ood"], metrics["segmentation"]
    # The bar is learning: TDOS's AP well above a random score's (the anomalous pixels' share). Whether
    # it beats MSP, max logit and entropy is the chapter's finding, read from the verdicts with their
    # intervals; requiring a win would ask for tuning until the expected winner wins.
    return {"TDOS score's AP at least twice a random score's (the anomalous-pixel fraction)":
                ood["tdos"]["ap"] >= 2 * metrics["anomaly_fraction"],
            "TDOS against every baseline compared with its interval (AP and FPR95)":
                {f"tdos_vs_{name}_{metric}" for name in ("msp", "max_logit", "entropy") for metric in ("ap", "fpr95")}
                <= set(metrics.get("comparisons", {})),
            "in-distribution mIoU well above chance (3× the majority-class mIoU, and ≥ 0.25)":
                seg["miou"] >= max(0.25, 3 * seg["chance_miou"])}
