"""The synthetic driving world: one seeded procedural 3D world written in every dataset format the
book reads (COCO, Talk2Car, KITTI, Cityscapes, Fishyscapes-style OOD, ImageNet folder, Hecto cars).

>>> from mmdl_lib.synth import write_synthetic, ensure_synthetic
>>> write_synthetic("kitti", "/tmp/world", preset="tiny", seed=0)    # doctest: +SKIP
>>> ensure_synthetic("coco")   # the smoke preset, generated on first use and cached  # doctest: +SKIP

Same seed and preset → byte-identical files. Used by every chapter; shown in chapter 00.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import MMDLError
from ..paths import data_dir

WORLD_VERSION = 5  # bump when the world changes, so cached smoke data is regenerated

PRESETS: dict[str, dict[str, dict]] = {
    "tiny": {
        "coco": {"size": (160, 120), "splits": {"train": 6, "val": 3}},
        "talk2car": {"size": (192, 108), "splits": {"train": 6, "val": 3, "test": 3}, "commands_per_image": 2},
        "kitti": {"size": (310, 94), "training": 5, "testing": 2, "lidar": (32, 512)},
        "cityscapes": {"size": (128, 64), "splits": {"train": 4, "val": 2}},
        "ood": {"size": (128, 64), "count": 3},
        "imagefolder": {"size": 48, "splits": {"train": 2, "val": 1}},
        "cars": {"size": (96, 72), "classes": 5, "views": 2, "test": 4},
    },
    "smoke": {
        "coco": {"size": (320, 240), "splits": {"train": 400, "val": 100}},
        "talk2car": {"size": (320, 180), "splits": {"train": 1000, "val": 250, "test": 100},
                     "commands_per_image": 4},
        "kitti": {"size": (621, 188), "training": 200, "testing": 40, "lidar": (64, 1024)},
        "cityscapes": {"size": (256, 128), "splits": {"train": 200, "val": 60}},
        "ood": {"size": (256, 128), "count": 60},
        "imagefolder": {"size": 64, "splits": {"train": 120, "val": 30}},
        "cars": {"size": (128, 96), "classes": 30, "views": 10, "test": 120},
    },
    "large": {
        "coco": {"size": (640, 480), "splits": {"train": 10000, "val": 1000}},
        "talk2car": {"size": (1600, 900), "splits": {"train": 8349, "val": 1163, "test": 2447}},
        "kitti": {"size": (1242, 375), "training": 7481, "testing": 7518, "lidar": (64, 2048)},
        "cityscapes": {"size": (1024, 512), "splits": {"train": 2975, "val": 500}},
        "ood": {"size": (1024, 512), "count": 400},
        "imagefolder": {"size": 224, "splits": {"train": 1300, "val": 50}},
        "cars": {"size": (320, 240), "classes": 396, "views": 80, "test": 8000},
    },
}
# The full profile's rehearsal on a CPU: the large preset (the real datasets' image sizes) with a
# handful of samples in each format.
_REHEARSAL_COUNTS = {
    "coco": {"splits": {"train": 4, "val": 2}},
    "talk2car": {"splits": {"train": 4, "val": 2, "test": 2}, "commands_per_image": 2},
    "kitti": {"training": 6, "testing": 2},
    "cityscapes": {"splits": {"train": 2, "val": 2}},
    "ood": {"count": 2},
    "imagefolder": {"splits": {"train": 2, "val": 1}},
    "cars": {"classes": 6, "views": 5, "test": 2},  # five views: chapter 06's 5-fold stratified split
}
PRESETS["rehearsal"] = {fmt: {**spec, **_REHEARSAL_COUNTS[fmt]} for fmt, spec in PRESETS["large"].items()}
FORMATS = tuple(PRESETS["tiny"])


def _check_args(fmt: str, preset: str) -> None:
    if fmt not in FORMATS:
        raise MMDLError(f"unknown synthetic format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if preset not in PRESETS:
        raise MMDLError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")


def write_synthetic(fmt: str, out: str | Path, preset: str = "tiny", seed: int = 0) -> Path:
    """Write one format under ``out/<fmt>`` (built in a temporary folder, then renamed into place)."""
    from .formats import WRITERS

    _check_args(fmt, preset)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".mmdl-write-test"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise MMDLError(f"{out}: cannot write the synthetic world here ({e.strerror})") from None
    final = out / fmt
    partial = out / f".{fmt}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        WRITERS[fmt](partial, PRESETS[preset][fmt], seed)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # never leave half a dataset behind
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


def synthetic_root(preset: str = "smoke", seed: int = 0) -> Path:
    """Where ``ensure_synthetic`` keeps a preset: named by the world's version and the preset's own
    sizes and counts, so editing a preset regenerates its data (and every cache keyed by its paths)."""
    from ..cache import cache_key

    return data_dir() / "synthetic" / f"{preset}-seed{seed}-v{WORLD_VERSION}-{cache_key(PRESETS[preset])[:8]}"


def ensure_synthetic(fmt: str, preset: str = "smoke", seed: int = 0) -> Path:
    """The cached synthetic dataset of ``fmt``, generated on first use."""
    _check_args(fmt, preset)
    root = synthetic_root(preset, seed)
    if not (root / fmt).is_dir():
        write_synthetic(fmt, root, preset, seed)
    return root / fmt


def dataset_root(data_root: str | None, synthetic: bool, fmt: str, preset: str, seed: int,
                 folder: str | None = None) -> Path:
    """Where a chapter's dataset lives: ``data_root`` when given; for a ``synthetic`` run (smoke, a
    rehearsal: ``cfg.synthetic``) the synthetic world's ``fmt`` in ``preset`` (generated on first
    use); otherwise ``$MMDL_DATA/<folder or fmt>``."""
    if data_root:
        return Path(data_root)
    if synthetic:
        return ensure_synthetic(fmt, preset, seed)
    return data_dir() / (folder or fmt)
