"""The chapter registry: one ``notebooks/NN_name.meta.yml`` beside each notebook (used by every chapter).

Like the Lightning tutorials' ``.meta.yml``, the file holds what the rest of the book needs to
know about a chapter, so that adding one means adding its own files and nothing else::

    title: CLIP → ConvNeXt knowledge distillation   # page and results-page title
    stage: clip_kd            # mmdl_lib/chapters/clip_kd/; run records under results/clip_kd/
    part: "Stages 1–2: distillation and grounding"   # the site's table-of-contents caption
    summary: CLIP → ConvNeXt-Tiny distillation on COCO region crops   # the README's chapter table
    seed: "000"               # the project seed it implements (../shared/seeds/), or null
    datasets: [COCO 2017]     # what the full profile reads
    extras: []                # pip extras of mmdl-book it needs beyond the core
    full_profile_accelerator: gpu   # "gpu" or "cpu"
    smoke_budget_minutes: 5   # what a cold smoke run may take on two CPU cores
    headline:                 # the results page's table and chart of this chapter's main comparison
      caption: Region ↔ text retrieval on the validation crops
      rows: [teacher, students.*, chance]   # paths into the record's metrics; "x.*" = each entry of x
      columns: {text→region R@5: t2r_R@5, region→text R@5: r2t_R@5}   # label: path inside a row
      chart: text→region R@5  # the column drawn as bars
      lower_is_better: false  # optional; said beside the chart

The chapter's smoke-quality checks live in its stage module (:func:`smoke_checks`), where the
metrics they read are defined. ``_toc.yml``, the results page and the book test are generated
from this registry; the README's table is checked against it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import yaml

from ..errors import DataFormatError
from ..io import atomic_write
from ..paths import project_root

EXECUTED = Path("build") / "executed"
STEM = re.compile(r"^(\d\d)_[a-z0-9_]+$")
ACCELERATORS = ("gpu", "cpu")
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "title": str, "stage": str, "part": str, "summary": str, "seed": (str, type(None)), "datasets": list,
    "extras": list, "full_profile_accelerator": str, "smoke_budget_minutes": (int, float), "headline": dict,
}
# Pages around the chapters, in the order the site shows them.
FRONT_MATTER = ("book/intro", "book/setup")
BACK_MATTER = (("Results", "book/results"),)


@dataclass(frozen=True)
class Headline:
    """A chapter's headline comparison on the results page, read from its run record's metrics."""

    caption: str
    rows: tuple[str, ...]
    columns: dict[str, str]
    chart: str
    lower_is_better: bool = False


def read_headline(path: Path, value: dict[str, Any]) -> Headline:
    """The ``headline`` field of a ``.meta.yml``; a wrong part names the file and the field."""
    kinds = {"caption": str, "rows": list, "columns": dict, "chart": str, "lower_is_better": bool}
    unknown = sorted(set(value) - set(kinds))
    if unknown:
        raise DataFormatError(path, f"unknown key(s) {unknown}; known: {sorted(kinds)}", f"headline.{unknown[0]}")
    for key, kind in kinds.items():
        if key not in value and key != "lower_is_better":
            raise DataFormatError(path, "missing required key", f"headline.{key}")
        if key in value and not isinstance(value[key], kind):
            raise DataFormatError(path, f"expected {kind.__name__}, got {value[key]!r}", f"headline.{key}")
    if not value["rows"] or not all(isinstance(r, str) and r for r in value["rows"]):
        raise DataFormatError(path, "a non-empty list of metric paths", "headline.rows")
    if not value["columns"] or not all(isinstance(v, str) and v for v in value["columns"].values()):
        raise DataFormatError(path, "a non-empty mapping of column label → metric path", "headline.columns")
    if value["chart"] not in value["columns"]:
        raise DataFormatError(path, f"{value['chart']!r} is not one of the columns {list(value['columns'])}",
                              "headline.chart")
    return Headline(caption=value["caption"], rows=tuple(value["rows"]),
                    columns={str(k): v for k, v in value["columns"].items()}, chart=value["chart"],
                    lower_is_better=value.get("lower_is_better", False))


@dataclass(frozen=True)
class Chapter:
    stem: str  # "01_clip_kd": notebooks/<stem>.py, .ipynb and .meta.yml
    number: str  # "01"
    title: str
    stage: str
    part: str
    summary: str
    seed: str | None
    datasets: tuple[str, ...]
    extras: tuple[str, ...]
    full_profile_accelerator: str
    smoke_budget_minutes: float
    headline: Headline

    @property
    def heading(self) -> str:
        return f"{self.number} · {self.title}"

    def notebook(self, root: Path | None = None) -> Path:
        return (root or project_root()) / "notebooks" / f"{self.stem}.ipynb"

    def stage_module(self) -> ModuleType | None:
        """The chapter's folder ``mmdl_lib.chapters.<stage>`` (its ``CONFIG`` and ``smoke_checks``), or None
        for a chapter without one (a demo in a test)."""
        if importlib.util.find_spec(f"mmdl_lib.chapters.{self.stage}") is None:
            return None
        return importlib.import_module(f"mmdl_lib.chapters.{self.stage}")

    def config_class(self) -> type | None:
        module = self.stage_module()
        return getattr(module, "CONFIG", None) if module else None

    def smoke_checks(self) -> Callable[[dict[str, Any]], dict[str, bool]] | None:
        module = self.stage_module()
        return getattr(module, "smoke_checks", None) if module else None


def read_chapter(path: Path) -> Chapter:
    """One ``.meta.yml``; a missing or mistyped field names the file and the field."""
    stem = path.name.removesuffix(".meta.yml")
    match = STEM.match(stem)
    if not match:
        raise DataFormatError(path, "chapter files are named NN_name.meta.yml (two digits, lower-case name)")
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DataFormatError(path, f"malformed YAML: {e}") from None
    if not isinstance(meta, dict):
        raise DataFormatError(path, "expected a mapping of chapter fields")
    unknown = sorted(set(meta) - set(_FIELDS))
    if unknown:
        raise DataFormatError(path, f"unknown field(s) {unknown}; known: {sorted(_FIELDS)}", unknown[0])
    for field, kind in _FIELDS.items():
        if field not in meta:
            raise DataFormatError(path, "missing required field", field)
        if not isinstance(meta[field], kind) or isinstance(meta[field], bool):
            raise DataFormatError(path, f"expected {kind}, got {meta[field]!r}", field)
    if meta["full_profile_accelerator"] not in ACCELERATORS:
        raise DataFormatError(path, f"expected one of {ACCELERATORS}", "full_profile_accelerator")
    if not re.match(r"^[a-z][a-z0-9_]*$", meta["stage"]):
        raise DataFormatError(path, "a stage is a lower-case Python module name", "stage")
    return Chapter(stem=stem, number=match.group(1), title=meta["title"], stage=meta["stage"], part=meta["part"],
                   summary=meta["summary"], seed=meta["seed"], datasets=tuple(meta["datasets"]),
                   extras=tuple(meta["extras"]), full_profile_accelerator=meta["full_profile_accelerator"],
                   smoke_budget_minutes=float(meta["smoke_budget_minutes"]),
                   headline=read_headline(path, meta["headline"]))


def chapters(root: Path | None = None) -> list[Chapter]:
    """Every chapter of the book, in order, each checked against its notebook pair."""
    folder = (root or project_root()) / "notebooks"
    found = [read_chapter(path) for path in sorted(folder.glob("*.meta.yml"))]
    for chapter in found:
        for suffix in (".py", ".ipynb"):
            if not (folder / f"{chapter.stem}{suffix}").is_file():
                raise DataFormatError(folder / f"{chapter.stem}.meta.yml",
                                      f"no notebook {chapter.stem}{suffix} beside it")
    stages = [c.stage for c in found]
    for chapter in found:
        if stages.count(chapter.stage) > 1:
            raise DataFormatError(folder / f"{chapter.stem}.meta.yml", "two chapters share this stage", "stage")
    return found


def toc(root: Path | None = None) -> dict[str, Any]:
    """The Jupyter Book 1 table of contents: front matter, the chapters grouped by part, results."""
    parts: list[dict[str, Any]] = [{"caption": "Getting started", "chapters": [{"file": f} for f in FRONT_MATTER[1:]]}]
    for chapter in chapters(root):
        entry = {"file": f"{EXECUTED}/{chapter.stem}"}
        if parts[-1]["caption"] == chapter.part:
            parts[-1]["chapters"].append(entry)
        else:
            parts.append({"caption": chapter.part, "chapters": [entry]})
    parts += [{"caption": caption, "chapters": [{"file": file}]} for caption, file in BACK_MATTER]
    return {"format": "jb-book", "root": FRONT_MATTER[0], "parts": parts}


def write_toc(root: Path | None = None) -> Path:
    """Write ``_toc.yml`` (generated: edit the chapters' ``.meta.yml`` instead)."""

    root = root or project_root()
    text = ("# Generated by `mmdl book` from notebooks/*.meta.yml; edits here are overwritten.\n"
            + yaml.safe_dump(toc(root), sort_keys=False, allow_unicode=True))
    return atomic_write(root / "_toc.yml", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def readme_table(root: Path | None = None) -> str:
    """The README's chapter table (a test checks that the README carries it verbatim)."""
    rows = ["| chapter | notebook | what it does | full profile needs |", "|---|---|---|---|"]
    for c in chapters(root):
        rows.append(f"| {c.number} | `{c.stem}` | {c.summary} | {c.full_profile_accelerator.upper()}"
                    + (f", extras `{','.join(c.extras)}`" if c.extras else "") + " |")
    return "\n".join(rows)
