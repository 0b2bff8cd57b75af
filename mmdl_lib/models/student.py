"""ConvNeXt students that live in the teacher's embedding space (chapter 01) and keep their H×W
feature map for grounding (chapter 02).

- :class:`DistilledConvNeXt`: a timm ConvNeXt (any size: ``convnext_tiny`` in the full profile,
  ``convnext_atto`` in smoke) with ``global_pool=''``; ``forward`` pools,
  normalises and projects to the teacher's embedding size, ``forward_map`` returns the map.
- :class:`DistilledConvNeXtMultiScale`: fuses backbone stages 2–4 on the stride-16 grid.

Both also give ``forward_pyramid``: backbone stages 2–4 resampled to the stride-16 grid and
concatenated, unprojected. Chapter 02 grounds commands on it rather than on ``forward_map``:
the distillation loss reaches the map only through global pooling, which lets the learned fusion
discard *where*, while the backbone stages, which every output depends on, keep it.

Both normalise their [0, 1] input with the backbone's own mean and std.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.checkpoint import load_weights, save_weights
from ..errors import CheckpointError
from ..io import write_json


@dataclass
class StudentConfig:
    backbone: str = "convnext_tiny"
    embed_dim: int = 512
    image_size: int = 224
    multiscale: bool = False
    pretrained: bool = False  # ImageNet weights from timm (full profile)
    map_dim: int = 256  # channels of the fused map (multi-scale only)


PYRAMID_STAGES = (1, 2, 3)  # timm stage indices 1–3 = stages 2–4, strides 8, 16, 32


def stages_on_stride16_grid(feats: list[torch.Tensor]) -> torch.Tensor:
    """Stride-8/16/32 maps → one stride-16 map: average-pool the finer, upsample the coarser, concatenate."""
    size = feats[1].shape[-2:]
    fine = F.adaptive_avg_pool2d(feats[0], size)
    coarse = F.interpolate(feats[2], size=size, mode="bilinear", align_corners=False)
    return torch.cat([fine, feats[1], coarse], dim=1)


class _Normalize(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        cfg = backbone.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class DistilledConvNeXt(nn.Module):
    """Single-scale student: the last stage's map, pooled and projected for distillation."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.backbone = timm.create_model(config.backbone, pretrained=config.pretrained, num_classes=0,
                                          global_pool="")
        self.normalize = _Normalize(self.backbone)
        self.map_channels = self.backbone.num_features
        self.pyramid_channels = sum(self.backbone.feature_info[i]["num_chs"] for i in PYRAMID_STAGES)
        self.head = nn.Sequential(nn.LayerNorm(self.map_channels), nn.Linear(self.map_channels, config.embed_dim))

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H/32, W/32) feature map, no pooling (chapter 02)."""
        return self.backbone.forward_features(self.normalize(images).contiguous(memory_format=torch.channels_last))

    def forward_pyramid(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C2+C3+C4, H/16, W/16): backbone stages 2–4 on the stride-16 grid (chapter 02)."""
        x = self.normalize(images).contiguous(memory_format=torch.channels_last)
        return stages_on_stride16_grid(self.backbone.forward_intermediates(x, indices=PYRAMID_STAGES,
                                                                           intermediates_only=True))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embedding in the teacher's space."""
        pooled = self.forward_map(images).mean(dim=(2, 3))
        return F.normalize(self.head(pooled), dim=-1)


class DistilledConvNeXtMultiScale(nn.Module):
    """Multi-scale student: stages 2, 3 and 4 projected to ``map_dim`` and summed on the stride-16 grid."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.backbone = timm.create_model(config.backbone, pretrained=config.pretrained, features_only=True,
                                          out_indices=PYRAMID_STAGES)
        self.normalize = _Normalize(self.backbone)
        self.lateral = nn.ModuleList(nn.Conv2d(c, config.map_dim, 1) for c in self.backbone.feature_info.channels())
        self.fuse = nn.Sequential(nn.GroupNorm(1, config.map_dim), nn.GELU(),
                                  nn.Conv2d(config.map_dim, config.map_dim, 3, padding=1))
        self.map_channels = config.map_dim
        self.pyramid_channels = sum(self.backbone.feature_info.channels())
        self.head = nn.Sequential(nn.LayerNorm(config.map_dim), nn.Linear(config.map_dim, config.embed_dim))

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, map_dim, H/16, W/16) fused map."""
        feats = self.backbone(self.normalize(images).contiguous(memory_format=torch.channels_last))
        size = feats[1].shape[-2:]
        fused = sum(F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False) if f.shape[-2:] != size
                    else lat(f) for lat, f in zip(self.lateral, feats))
        return self.fuse(fused)

    def forward_pyramid(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C2+C3+C4, H/16, W/16): the backbone stages before fusion, on the stride-16 grid (chapter 02)."""
        x = self.normalize(images).contiguous(memory_format=torch.channels_last)
        return stages_on_stride16_grid(self.backbone(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.forward_map(images).mean(dim=(2, 3))
        return F.normalize(self.head(pooled), dim=-1)


Student = DistilledConvNeXt | DistilledConvNeXtMultiScale


def build_student(config: StudentConfig) -> Student:
    cls = DistilledConvNeXtMultiScale if config.multiscale else DistilledConvNeXt
    # channels-last convolutions run faster on CPUs and on GPUs under AMP
    return cls(config).to(memory_format=torch.channels_last)


def random_init(config: StudentConfig, seed: int | None = None) -> Student:
    """The same architecture with random weights (chapter 02's "random encoder" comparison).

    With ``seed`` the weights are drawn from that seed alone, leaving torch's global generator as it
    was: otherwise they depend on everything that drew before (whether an encoder was trained in
    this process or loaded from the cache)."""
    untrained = StudentConfig(**{**asdict(config), "pretrained": False})
    if seed is None:
        return build_student(untrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_student(untrained)


def save_student(model: Student, folder: str | Path, extra: dict | None = None) -> Path:
    """``student.safetensors`` + ``student_config.json`` (what chapter 02 loads)."""
    folder = Path(folder)
    save_weights(model, folder / "student.safetensors")
    write_json(folder / "student_config.json", {"student": asdict(model.config), **(extra or {})})
    return folder


def load_student(folder: str | Path) -> tuple[Student, dict]:
    folder = Path(folder)
    config_path = folder / "student_config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: no distilled student here (run chapter 01 first)")
    try:
        meta = json.loads(config_path.read_text())
        config = StudentConfig(**{**meta["student"], "pretrained": False})
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{config_path}: unreadable student config ({e})") from None
    model = build_student(config)
    load_weights(model, folder / "student.safetensors")
    return model, meta
