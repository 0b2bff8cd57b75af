"""Published architectures, built with random weights where the weights cannot be downloaded.

The full profile's rehearsal (#18) runs a chapter's full configuration on a CPU without
downloads. open_clip and timm build their published architectures without weights by themselves
(``pretrained=None`` / ``False``); a hub checkpoint of transformers or sentence-transformers
needs its ``config.json``. The architecture part of those configs ships in
``models/configs/published/`` (one file per hub name, ``/`` written ``--``), so the rehearsal
builds the same layers, widths and vocabulary as the checkpoint a user downloads. Used by
chapter 06 (Qwen2.5-VL-7B-Instruct, KR-SBERT).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PUBLISHED_DIR = Path(__file__).parent / "configs" / "published"


def published_names() -> list[str]:
    return sorted(p.stem.replace("--", "/") for p in PUBLISHED_DIR.glob("*.json"))


def published_config(name: str) -> dict[str, Any]:
    """The shipped architecture config of hub model ``name`` (without the ``_source`` note)."""
    path = PUBLISHED_DIR / f"{name.replace('/', '--')}.json"
    if not path.is_file():
        raise ConfigError(f"{name}: no published architecture in {PUBLISHED_DIR} to build it with random weights "
                          f"(known: {published_names()}); rehearse with a model listed there, or add its config")
    config = json.loads(path.read_text())
    config.pop("_source", None)
    return config


def fewer_layers(config: dict[str, Any], layers: int | None) -> dict[str, Any]:
    """Qwen2.5-VL's config with its first ``layers`` decoder layers and ``max(layers, 2)`` vision blocks:
    windowed attention, and a last block with full attention as every eighth block of the published
    model has.

    Only where the full model cannot run on the rehearsal's machine; ``None`` keeps every layer.
    """
    if layers is None:
        return config
    text, vision = config["text_config"], config["vision_config"]
    if not 1 <= layers <= text["num_hidden_layers"]:
        raise ConfigError(f"vlm_layers {layers}: the model has {text['num_hidden_layers']} decoder layers")
    depth = min(max(layers, 2), vision["depth"])
    return {**config, "text_config": {**text, "num_hidden_layers": layers},
            "vision_config": {**vision, "depth": depth, "fullatt_block_indexes": [depth - 1]}}
