"""Chapter 00's settings: which synthetic world is written, and what its smoke run must show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import StageConfig
from ...paths import data_dir
from ...synth import FORMATS


@dataclass
class SyntheticWorldConfig(StageConfig):
    preset: str = "tiny"  # the smoke profile shows the tiny preset; chapters generate "smoke" on first use
    out_dir: str | None = None

    PROFILES = {"smoke": {"preset": "tiny"}, "full": {"preset": "large"}}
    REHEARSAL = {"preset": "rehearsal"}  # the large preset's image sizes, a handful of samples

    def output_root(self) -> Path:
        return Path(self.out_dir) if self.out_dir else data_dir() / "synthetic" / f"chapter00-{self.preset}-seed{self.seed}"


CONFIG = SyntheticWorldConfig


def smoke_checks(metrics: dict[str, Any]) -> dict[str, bool]:
    """Every format was written and holds something (read by the book test from the run record)."""
    return {f"{fmt} written": fmt in metrics and any(v > 0 for k, v in metrics[fmt].items()
                                                     if k not in ("seconds", "images_per_second"))
            for fmt in FORMATS}
