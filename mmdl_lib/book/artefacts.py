"""The one door between chapters: what a chapter reads from another chapter's runs.

Chapter code never imports another chapter (``tests/test_layers.py``). A notebook that needs another
chapter's output asks here, and gets the newest run's artefact, or one produced by executing that
chapter's own notebook: chapter 01's distilled student (for chapter 02), and chapter 02's own trained
grounding model (its mode "test"). The region-CLIP teacher that chapters 01, 02, 04, 05 and 06 share
is not a run's output but a cached model of the core (:mod:`mmdl_lib.region_clip`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MMDLError
from ..records import latest_run_folder
from . import notebooks

if TYPE_CHECKING:
    from ..chapters.talk2car.pipeline import Talk2CarConfig


def find_or_train_distilled(cfg: Talk2CarConfig, chapter01_output: Path | None = None) -> Path:
    """Chapter 01's output folder: ``distilled`` if given, else the newest run; in mode "all" with
    no run, chapter 01's notebook is executed first (without its comparisons) into ``chapter01_output``."""
    name = "student_multiscale" if cfg.encoder_variant == "multiscale" else "student"
    if cfg.distilled:
        folder = Path(cfg.distilled)
        return folder / name if (folder / name / "student_config.json").is_file() else folder
    latest = latest_run_folder("clip_kd", cfg.profile, rehearsal=cfg.rehearse)
    if latest is None or not (latest / name / "student_config.json").is_file():
        if cfg.mode != "all":
            raise MMDLError(f"no chapter-01 run of profile {cfg.profile!r} with a {cfg.encoder_variant} student: "
                            "run chapter 01, pass distilled=<folder>, or use mode='all'")
        parameters = {"profile": cfg.profile, "seed": cfg.seed, "ablation": False,
                      "multiscale_variant": cfg.encoder_variant == "multiscale",
                      **({"rehearse": True} if cfg.rehearse else {})}
        notebooks.execute(notebooks.resolve_notebook("01"), parameters, output=chapter01_output)
        latest = latest_run_folder("clip_kd", cfg.profile, rehearsal=cfg.rehearse)
    return latest / name


def latest_grounding(cfg: Talk2CarConfig) -> Path:
    """The grounding model mode "test" evaluates: ``grounding_checkpoint``, else the newest chapter-02 run's."""
    if cfg.grounding_checkpoint:
        return Path(cfg.grounding_checkpoint)
    latest = latest_run_folder("talk2car", cfg.profile, rehearsal=cfg.rehearse)
    if latest is None or not (latest / "grounding" / "grounding_config.json").is_file():
        raise MMDLError(f"mode 'test' needs a trained grounding model: no chapter-02 run of profile "
                        f"{cfg.profile!r}; run with mode='all' first or pass grounding_checkpoint")
    return latest / "grounding"
