"""What a run ran on: versions, device, hardware and git sha (``mmdl env``; every run record)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from . import __version__
from .openmmlab.stack import op_paths, op_table
from .runtime import select_device

PACKAGES = (
    "torch", "torchvision", "timm", "open_clip_torch", "numpy", "albumentations", "open3d",
    "transformers", "sentence-transformers", "peft", "papermill", "jupyter-book",
    "mmengine", "mmcv", "mmcv-lite", "mmdet", "mmdet3d", "mmsegmentation", "spconv", "spconv-cu126",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def git_sha(folder: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder or Path.cwd(), capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder or Path.cwd(),
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cuda": torch.cuda.is_available(),
    }
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        info["gpu"] = "Apple MPS"
    return info


def environment() -> dict[str, Any]:
    return {
        "mmdl_lib": __version__,
        "python": platform.python_version(),
        "packages": package_versions(),
        "device": str(select_device()),
        "hardware": hardware(),
        "git_sha": git_sha(),
        "openmmlab_ops": op_paths(),  # per op chapters 03–04 call, what runs for CPU and for CUDA tensors
    }


def environment_report() -> str:
    """A short human-readable report, shown in each chapter's environment cell."""
    env = environment()
    hw = env["hardware"]
    lines = [
        f"mmdl_lib {env['mmdl_lib']}  ·  Python {env['python']}  ·  git {env['git_sha'] or 'n/a'}",
        f"device: {env['device']}  ·  CPU: {hw['cpu']} ({hw['cpu_count']} cores)"
        + (f"  ·  GPU: {hw['gpu']}" if "gpu" in hw else "  ·  no GPU"),
        "packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
    ]
    if env["openmmlab_ops"]:
        lines.append("OpenMMLab ops: " + "; ".join(op_table(env["openmmlab_ops"]).splitlines()))
    return "\n".join(lines)
