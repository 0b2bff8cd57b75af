"""The library's house rules, checked on its source: imports run downward only, never between chapters,
and no module imports itself back through others (README: 'Layout')."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "mmdl_lib"
# Lowest first. A module may import from its own layer or a lower one; names in one layer may import
# each other as long as no cycle forms (checked below).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "errors", "io", "paths", "progress", "overrides", "config", "cache", "distributed"),  # "": mmdl_lib/__init__
    ("synth",),
    ("data",),
    ("openmmlab",),
    ("metrics", "losses"),
    ("engine", "runtime"),
    ("models",),
    ("region_clip", "env", "records", "deploy", "viz"),
    ("chapters",),
    ("book",),
    ("cli",),
)


def modules(root: Path = LIBRARY) -> dict[str, Path]:
    """Every module of the library by dotted name below ``mmdl_lib`` ("" for the package itself)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The library modules ``name`` imports anywhere in its file (function-local imports too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "mmdl_lib" or node.module.startswith("mmdl_lib.")):
                target = node.module.removeprefix("mmdl_lib").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                out.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("mmdl_lib").lstrip(".") for a in node.names
                       if a.name == "mmdl_lib" or a.name.startswith("mmdl_lib."))
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> int:
    top = name.split(".")[0]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"mmdl_lib.{name} belongs to no layer: add its top-level name to LAYERS")


def chapter(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "chapters" and len(parts) > 1 else None


def violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if layer(target) > layer(source):
                found.append(f"mmdl_lib.{source} imports mmdl_lib.{target}, a higher layer")
            elif chapter(source) and chapter(target) and chapter(source) != chapter(target):
                found.append(f"mmdl_lib.{source} imports mmdl_lib.{target}, another chapter")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_runs_down_the_layers_and_stays_inside_its_chapter():
    assert violations(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_catch_an_upward_import_a_chapter_to_chapter_import_and_a_cycle(tmp_path):
    for name, text in {
        "__init__.py": "", "paths.py": "from .synth import world\n", "synth/__init__.py": "from ..paths import x\n",
        "chapters/__init__.py": "", "chapters/a/__init__.py": "", "chapters/b/__init__.py": "",
        "chapters/a/pipeline.py": "from ..b import model\nfrom ...data import kitti\n", "chapters/b/model.py": "",
        "data/__init__.py": "", "data/kitti.py": "def f():\n    from mmdl_lib.chapters.a import pipeline\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    known = modules(tmp_path)
    edges = {name: imports(name, path, known) for name, path in known.items()}
    assert edges["chapters.a.pipeline"] == {"chapters.b.model", "data.kitti"}
    found = violations(edges)
    assert "mmdl_lib.paths imports mmdl_lib.synth, a higher layer" in found
    assert "mmdl_lib.chapters.a.pipeline imports mmdl_lib.chapters.b.model, another chapter" in found
    assert "mmdl_lib.data.kitti imports mmdl_lib.chapters.a.pipeline, a higher layer" in found  # a local import too
    assert ["paths", "synth"] in cycles(edges)


@pytest.mark.parametrize("name", sorted(n for n in modules() if n))
def test_every_module_has_a_layer(name):
    layer(name)
