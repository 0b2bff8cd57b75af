"""Counting what a synthetic (or real) dataset folder holds (chapter 00)."""

from __future__ import annotations

import json
from pathlib import Path


def summarize(fmt: str, root: Path) -> dict[str, int]:
    """Images and annotations per format, read from the written files."""
    if fmt == "coco":
        out = {}
        for path in sorted((root / "annotations").glob("instances_*.json")):
            data = json.loads(path.read_text())
            split = path.stem.split("_")[1]
            out[f"{split}_images"] = len(data["images"])
            out[f"{split}_instances"] = len(data["annotations"])
        return out
    if fmt == "talk2car":
        return {f"{p.stem.split('_')[0]}_commands": len(json.loads(p.read_text())["commands"])
                for p in sorted((root / "commands").glob("*_commands.json"))}
    if fmt == "kitti":
        labels = sorted((root / "training" / "label_2").glob("*.txt"))
        return {"training_frames": len(labels), "testing_frames": len(list((root / "testing" / "image_2").glob("*"))),
                "objects": sum(len(p.read_text().splitlines()) for p in labels)}
    if fmt == "cityscapes":
        return {f"{s.name}_images": len(list(s.rglob("*_leftImg8bit.png"))) for s in (root / "leftImg8bit").iterdir()}
    if fmt == "ood":
        return {"images": len(list((root / "images").glob("*.png")))}
    if fmt == "imagefolder":
        return {f"{s.name}_images": len(list(s.rglob("*.JPEG"))) for s in sorted(root.iterdir()) if s.is_dir()}
    if fmt == "cars":
        return {"classes": len(list((root / "train").iterdir())), "train_images": len(list(root.rglob("train/*/*.jpg"))),
                "test_images": len(list((root / "test").glob("*.jpg")))}
    raise ValueError(f"unknown format {fmt!r}")
