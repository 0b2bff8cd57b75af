"""The results chapter, generated from run records (``book/results.md``, written by ``mmdl book``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import atomic_write
from ..records import latest_records
from .chapters import chapters


def _scalars(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_scalars(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, value))
    return rows


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_results(records: dict[str, tuple[Path, dict[str, Any]]], titles: dict[str, str] | None = None) -> str:
    """The page; ``titles`` maps a record's stage to its chapter heading, in the book's order."""
    titles = titles or {}
    lines = [
        "# Results",
        "",
        "Every number below is read from the run record (`results/<stage>/<run>/record.json`) of the",
        "newest executed run of each chapter. The profile says which data produced it: **smoke** runs",
        "use the synthetic driving world and locally trained models, so their numbers are *not*",
        "comparable with published COCO, Talk2Car or KITTI numbers; the chapters cite those separately.",
        "",
    ]
    if not records:
        lines += ["No run records yet: execute the chapters (`mmdl book`) to fill this page.", ""]
    for stage in sorted(records, key=lambda s: list(titles).index(s) if s in titles else len(titles)):
        path, record = records[stage]
        env = record["environment"]
        hw = env.get("hardware", {})
        device = hw.get("gpu") or f"CPU: {hw.get('cpu', '?')}"
        lines += [
            f"## {titles.get(stage, stage)}",
            "",
            f"Profile **{record['profile']}**, seed {record['seed']}, run {record['created']}, "
            f"git `{env.get('git_sha') or 'n/a'}`, {device}, torch {env.get('packages', {}).get('torch', '?')}.",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [f"| `{name}` | {_fmt(value)} |" for name, value in _scalars(record["metrics"])]
        lines.append("")
    return "\n".join(lines)


def write_results_chapter(path: Path, results_root: Path | None = None, profile: str | None = None,
                          root: Path | None = None) -> Path:
    titles = {chapter.stage: chapter.heading for chapter in chapters(root)}
    text = render_results(latest_records(results_root, profile), titles)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
