"""The results chapter, generated from run records (``book/results.md``, written by ``mmdl book``).

Per chapter: the run's profile, seed, date, git sha and hardware; its headline comparison (the
``headline`` of its ``.meta.yml``) as a compact table and a bar chart; and the full record as a
download.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from ..io import atomic_write
from ..records import latest_records
from ..viz.comparisons import as_comparisons, comparisons_markdown, plot_comparisons
from .chapters import Chapter, Headline, chapters

FIGURES = "results_figures"  # beside results.md: one chart per chapter
RECORDS = "results_records"  # beside results.md: each chapter's full record, downloadable


def _lookup(metrics: dict[str, Any], path: str) -> Any:
    value: Any = metrics
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def headline_rows(metrics: dict[str, Any], headline: Headline) -> dict[str, dict[str, Any]]:
    """Row label → column label → value (None where the record lacks it). A row path ``x.*`` expands
    to every entry of ``x`` (``*`` alone: every top-level entry), labelled by its key."""
    rows: dict[str, dict[str, Any]] = {}
    for path in headline.rows:
        if path == "*" or path.endswith(".*"):
            parent = metrics if path == "*" else _lookup(metrics, path[:-2])
            entries = parent.items() if isinstance(parent, dict) else []
        else:
            entries = [(path.rsplit(".", 1)[-1], _lookup(metrics, path))]
        for label, row in entries:
            if isinstance(row, dict):
                rows[label] = {column: _lookup(row, inner) for column, inner in headline.columns.items()}
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def headline_table(rows: dict[str, dict[str, Any]], headline: Headline) -> list[str]:
    columns = list(headline.columns)
    lines = ["| | " + " | ".join(_cell(c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {_cell(label)} | " + " | ".join(_fmt(row[c]) for c in columns) + " |" for label, row in rows.items()]
    return lines


def headline_chart(rows: dict[str, dict[str, Any]], headline: Headline, path: Path) -> Path | None:
    """A horizontal bar chart of the headline's ``chart`` column (None when no row has a number)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = {label: row[headline.chart] for label, row in rows.items()
              if isinstance(row[headline.chart], (int, float)) and not isinstance(row[headline.chart], bool)}
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(values) + 0.9))
    labels = list(values)[::-1]
    ax.barh(labels, [values[k] for k in labels], color="#4c72b0")
    for y, label in enumerate(labels):
        ax.text(values[label], y, f" {_fmt(values[label])}", va="center", fontsize=8)
    ax.set_xlabel(headline.chart + ("  (lower is better)" if headline.lower_is_better else ""))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def comparison_lines(path: Path, record: dict[str, Any], chapter: Chapter, folder: Path) -> list[str]:
    """The record's ``metrics.comparisons`` (each headline comparison with its interval): a table,
    the computed verdicts and an error-bar chart."""
    recorded = record["metrics"].get("comparisons")
    if not recorded:
        return []
    try:
        found = as_comparisons(recorded)
    except (TypeError, ValueError) as error:
        raise DataFormatError(path, f"a comparison is malformed: {error}", "metrics.comparisons") from None
    import matplotlib.pyplot as plt

    chart = folder / FIGURES / f"{chapter.stage}_comparisons.png"
    figure = plot_comparisons(found)
    atomic_write(chart, lambda tmp: figure.savefig(tmp, dpi=110, format="png", bbox_inches="tight"))
    plt.close(figure)
    return ["**How sure: each headline comparison with its 95 % interval**", "", comparisons_markdown(found), "",
            f"![differences with their intervals]({FIGURES}/{chart.name})", ""]


def _provenance(record: dict[str, Any]) -> str:
    env = record["environment"]
    hw = env.get("hardware", {})
    device = hw.get("gpu") or f"CPU: {hw.get('cpu', '?')}"
    return (f"Profile **{record['profile']}**, seed {record['seed']}, run {record['created']}, "
            f"git `{env.get('git_sha') or 'n/a'}`, {device}, torch {env.get('packages', {}).get('torch', '?')}.")


INTRO = [
    "# Results",
    "",
    "Each chapter's headline comparison, read from the run record of its newest executed run",
    "(`results/<stage>/<run>/record.json`; the full record is one click away), and each method",
    "comparison with the 95 % interval of its difference: a paired bootstrap over the evaluation items,",
    "or the spread over training seeds where the chapter says so. A verdict names a winner only when the",
    "interval excludes zero. The profile says which",
    "data produced it: **smoke** runs use the synthetic driving world and locally trained models, so",
    "their numbers are *not* comparable with published COCO, Talk2Car, KITTI or Hecto numbers; the",
    "chapters cite those separately.",
    "",
]


def render_results(records: dict[str, tuple[Path, dict[str, Any]]], book_chapters: list[Chapter],
                   folder: Path) -> str:
    """The page's Markdown; charts and record copies are written under ``folder`` (beside the page)."""
    lines = list(INTRO)
    shown = [c for c in book_chapters if c.stage in records]
    if not shown:
        lines += ["No run records yet: execute the chapters (`mmdl book`) to fill this page.", ""]
    for chapter in shown:
        path, record = records[chapter.stage]
        rows = headline_rows(record["metrics"], chapter.headline)
        if not rows:
            raise DataFormatError(path, f"none of the headline rows {list(chapter.headline.rows)} of "
                                        f"notebooks/{chapter.stem}.meta.yml is in this record", "metrics")
        copy = folder / RECORDS / f"{chapter.stage}.json"
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(copy, lambda tmp: shutil.copyfile(path, tmp))
        chart = headline_chart(rows, chapter.headline, folder / FIGURES / f"{chapter.stage}.png")
        lines += [f"## {chapter.heading}", "", _provenance(record), "", f"**{chapter.headline.caption}**", ""]
        lines += headline_table(rows, chapter.headline) + [""]
        if chart is not None:
            lines += [f"![{chapter.headline.chart} per row]({FIGURES}/{chart.name})", ""]
        lines += comparison_lines(path, record, chapter, folder)
        lines += [f"{{download}}`Full run record (JSON) <{RECORDS}/{copy.name}>` · "
                  f"[the chapter](../build/executed/{chapter.stem}.ipynb)", ""]
    return "\n".join(lines)


def write_results_chapter(path: Path, results_root: Path | None = None, profile: str | None = None,
                          root: Path | None = None) -> Path:
    text = render_results(latest_records(results_root, profile), chapters(root), path.parent)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
