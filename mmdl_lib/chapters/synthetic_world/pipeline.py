"""Chapter 00: write every format of the synthetic world and time it."""

from __future__ import annotations

import time

from ...synth import FORMATS, write_synthetic
from .config import CONFIG, SyntheticWorldConfig, smoke_checks
from .summary import summarize

# re-exported: the notebook reads its config and checks through this module
__all__ = ["CONFIG", "SyntheticWorldConfig", "smoke_checks"]


def write_all_formats(cfg: SyntheticWorldConfig) -> dict[str, dict]:
    """Write each format; return its counts and generation speed."""
    report = {}
    for fmt in FORMATS:
        started = time.perf_counter()
        root = write_synthetic(fmt, cfg.output_root(), cfg.preset, cfg.seed)
        seconds = time.perf_counter() - started
        counts = summarize(fmt, root)
        images = sum(v for k, v in counts.items() if k.endswith(("images", "frames", "commands")))
        report[fmt] = {**counts, "seconds": round(seconds, 2), "images_per_second": round(images / seconds, 2)}
    return report
