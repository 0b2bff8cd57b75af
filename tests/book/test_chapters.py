"""The chapter registry (notebooks/*.meta.yml): what every other place of the book is generated from."""

import ast
import dataclasses
import shutil
import tomllib
import types
import typing
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from mmdl_lib.book.chapters import chapters, read_chapter, readme_table, toc
from mmdl_lib.book.notebooks import notebook_parameters
from mmdl_lib.errors import DataFormatError

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = chapters(ROOT)
META = """title: A demo chapter
stage: demo
part: Demos
summary: a chapter that exists only in a test
seed: null
datasets: []
extras: []
full_profile_accelerator: cpu
smoke_budget_minutes: 1
headline:
  caption: The demo's answers
  rows: [answers.*]
  columns: {value: value}
  chart: value
"""


def test_every_notebook_has_one_registry_entry_with_a_stage_module():
    assert [c.stem for c in CHAPTERS] == sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    for chapter in CHAPTERS:
        assert chapter.config_class() is not None, f"mmdl_lib/chapters/{chapter.stage}/ has no CONFIG"
        assert callable(chapter.smoke_checks()), f"mmdl_lib/chapters/{chapter.stage}/ has no smoke_checks"


def test_the_readme_table_and_the_extras_agree_with_the_registry():
    assert readme_table(ROOT) in (ROOT / "README.md").read_text(), "paste `mmdl chapters` into README.md"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for chapter in CHAPTERS:
        assert set(chapter.extras) <= set(extras), chapter.stem


def test_the_toc_lists_every_chapter_in_order():
    files = [entry["file"] for part in toc(ROOT)["parts"] for entry in part["chapters"]]
    assert [f.removeprefix("build/executed/") for f in files if f.startswith("build/executed/")] == \
        [c.stem for c in CHAPTERS]
    assert files[0] == "book/setup" and files[-1] == "book/results"


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.pop("stage"), "stage"),
    (lambda m: m.update(smoke_budget_minutes="five"), "smoke_budget_minutes"),
    (lambda m: m.update(full_profile_accelerator="tpu"), "full_profile_accelerator"),
    (lambda m: m.update(colour="red"), "colour"),
    (lambda m: m.update(stage="Bad-Name"), "stage"),
    (lambda m: m.pop("headline"), "headline"),
    (lambda m: m["headline"].update(chart="no such column"), "headline.chart"),
    (lambda m: m["headline"].update(rows=[]), "headline.rows"),
    (lambda m: m["headline"].pop("caption"), "headline.caption"),
    (lambda m: m["headline"].update(colour="red"), "headline.colour"),
])
def test_a_malformed_entry_names_the_file_and_the_field(tmp_path, edit, field):
    meta = yaml.safe_load(META)
    edit(meta)
    path = tmp_path / "90_demo.meta.yml"
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(DataFormatError, match=f"90_demo.meta.yml \\[field '{field}'\\]"):
        read_chapter(path)


def test_an_entry_without_its_notebook_is_refused(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "90_demo.meta.yml").write_text(META)
    with pytest.raises(DataFormatError, match="no notebook 90_demo.py"):
        chapters(tmp_path)


def _other_value(hint, value):
    """A valid value of ``hint`` that differs from ``value``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return next(a for a in args if a != value)
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kinds = [a for a in args if a is not type(None)] if union else [hint]
    kind = kinds[0]
    if typing.get_origin(kind) is typing.Literal:
        return next(a for a in typing.get_args(kind) if a != value)
    change = {bool: lambda v: not v, int: lambda v: (v or 0) + 1, float: lambda v: (v or 0.0) * 2 + 0.5,
              str: lambda v: f"{v}-changed"}
    if typing.get_origin(kind) is list:
        element = typing.get_args(kind)[0]
        if value and element in (int, float):  # numbers whose count may be fixed (a size): each one changed
            return [change[element](v) for v in value]
        return list(value or []) + [_other_value(element, None)]  # e.g. list[list[float]]: one more element
    return change[kind](value)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_every_notebook_parameter_is_a_config_field_and_is_honoured(chapter):
    config = chapter.config_class()
    hints = typing.get_type_hints(config)
    parameters = notebook_parameters(chapter.notebook(ROOT))
    unknown = sorted(set(parameters) - {f.name for f in dataclasses.fields(config)})
    assert not unknown, f"{chapter.stem}: parameters {unknown} are not fields of {config.__name__}"
    for name in sorted(set(parameters) - {"profile"}):
        base = config.from_profile("smoke")
        value = _other_value(hints[name], getattr(base, name))
        given = {k: eval(v) for k, v in parameters.items()}
        if name == "rehearse":  # a rehearsal is of the full profile only
            given["profile"] = "full"
        cfg = config.from_parameters({**given, name: value})
        assert getattr(cfg, name) == value, f"{chapter.stem}: parameter {name!r} is not honoured"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_no_notebook_variable_shadows_a_config_field(chapter):
    """``from_parameters(globals())`` reads fields by name: a later variable with a field's name
    would be read back as a parameter when a reader re-runs the config cell."""
    fields = {f.name for f in dataclasses.fields(chapter.config_class())}
    cells = [c for c in jupytext.read(ROOT / "notebooks" / f"{chapter.stem}.py").cells if c.cell_type == "code"]
    for cell in cells[1:]:
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%")))
        assigned = {t.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.For, ast.AugAssign))
                    for t in ast.walk(node.targets[0] if isinstance(node, ast.Assign) else node.target)
                    if isinstance(t, ast.Name)}
        assert not assigned & fields, f"{chapter.stem}: rename {sorted(assigned & fields)}"


@pytest.mark.notebooks
def test_a_new_chapter_needs_only_its_own_files(tmp_path, isolated_home):
    """A demo chapter dropped into a copy of the book appears in the table of contents, executes, has
    its results under its title, and the site builds, with no other file edited."""
    from mmdl_lib.book.site import build_site

    project = tmp_path / "book"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", project)
    shutil.copytree(ROOT / "book", project / "book", ignore=shutil.ignore_patterns("results.md", "results_*"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"\nseed = 0', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell("# 90 · A demo chapter"),
                nbformat.v4.new_code_cell("from mmdl_lib.records import Run\n"
                                          "print(Run.start('demo', profile, seed).record({'answers': {'demo': {'value': 42}}}))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, project / "notebooks" / "90_demo.ipynb")
    jupytext.write(nb, project / "notebooks" / "90_demo.py", fmt="py:percent")
    (project / "notebooks" / "90_demo.meta.yml").write_text(META)

    index = build_site(profile="smoke", root=project, log=lambda _: None)
    assert "build/executed/90_demo" in (project / "_toc.yml").read_text()
    assert (project / "_build" / "html" / "build" / "executed" / "90_demo.html").is_file()
    results = (project / "_build" / "html" / "book" / "results.html").read_text()
    assert "90 · A demo chapter" in results and "42" in results
    assert index.is_file()
