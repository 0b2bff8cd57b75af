"""Find, inspect and execute the book's notebooks with papermill.

Executed copies go to ``build/executed/`` (never back into ``notebooks/``), each beside a stamp
that keys the run on the notebook's source, its parameters, the profile and a hash of the
``mmdl_lib`` sources: ``mmdl book`` re-executes a chapter only when one of those changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mmdl_lib

from ..errors import MMDLError
from ..io import atomic_write, write_json
from ..paths import project_root
from .chapters import EXECUTED, chapters


class NotebookFailed(MMDLError):
    """A chapter raised while executing; the message shows the failing cell."""


def library_hash() -> str:
    """Hash of every ``mmdl_lib`` source file: a library change invalidates cached runs."""
    h = hashlib.sha256()
    root = Path(mmdl_lib.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def toc_notebooks(root: Path | None = None) -> list[str]:
    """Stems of the book's chapters, in order (from the chapter registry, which ``_toc.yml`` follows)."""
    return [chapter.stem for chapter in chapters(root)]


def resolve_notebook(name: str, root: Path | None = None) -> Path:
    """``02``, ``02_talk2car_finetune``, or a path to its ``.py``/``.ipynb`` → the ``.ipynb``."""
    root = root or project_root()
    candidates = sorted((root / "notebooks").glob("*.ipynb"))
    path = Path(name)
    if path.suffix in (".py", ".ipynb") and path.with_suffix(".ipynb").is_file():
        return path.with_suffix(".ipynb").resolve()
    matches = [c for c in candidates if c.stem == path.stem or c.stem.split("_", 1)[0] == path.stem]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(c.stem for c in candidates) or "(none)"
    raise MMDLError(f"unknown notebook {name!r}; the book has: {known}")


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The parameters cell's names and defaults, read with papermill."""
    import papermill

    found = papermill.inspect_notebook(str(notebook))
    if not found:
        raise MMDLError(f"{notebook}: no cell tagged 'parameters'")
    return {name: spec["default"] for name, spec in found.items()}


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Unknown names, and values of the wrong type for the chapter's config, are refused before
    a kernel starts (naming the parameter and the type it expects)."""
    known = notebook_parameters(notebook)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise MMDLError(f"{notebook.name}: unknown parameter(s) {unknown}; it takes: {sorted(known)}")
    chapter = next((c for c in chapters(notebook.parent.parent) if c.stem == notebook.stem), None)
    config = chapter.config_class() if chapter else None
    if config is not None:
        from ..config import check_fields

        check_fields(config, {k: v for k, v in parameters.items() if v is not None})


def run_key(notebook: Path, parameters: dict[str, Any]) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    source = json.dumps([["".join(c["source"]), c["cell_type"]] for c in cells])
    payload = json.dumps({"source": source, "parameters": parameters, "lib": library_hash()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def output_path(notebook: Path, root: Path | None = None) -> Path:
    return (root or project_root()) / EXECUTED / f"{notebook.stem}.ipynb"


def rehearsal_output_path(notebook: Path, root: Path | None = None) -> Path:
    """Where a rehearsal of the full profile goes: never over the chapter the site shows."""
    return (root or project_root()) / "build" / "rehearsal" / f"{notebook.stem}.ipynb"


def is_up_to_date(notebook: Path, parameters: dict[str, Any], root: Path | None = None) -> bool:
    out = output_path(notebook, root)
    stamp = out.with_suffix(".stamp.json")
    if not (out.is_file() and stamp.is_file()):
        return False
    try:
        return json.loads(stamp.read_text()).get("key") == run_key(notebook, parameters)
    except json.JSONDecodeError:
        return False


@dataclass
class Execution:
    notebook: Path
    output: Path
    skipped: bool


def execute(notebook: Path, parameters: dict[str, Any] | None = None, root: Path | None = None,
            output: Path | None = None, force: bool = True) -> Execution:
    """Execute ``notebook`` with papermill into the build folder (or ``output``).

    Raises :class:`NotebookFailed` naming the failing cell and the partial output notebook.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = root or project_root()
    parameters = dict(parameters or {})
    check_parameters(notebook, parameters)
    out = output or output_path(notebook, root)
    if not force and output is None and is_up_to_date(notebook, parameters, root):
        return Execution(notebook, out, skipped=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out.with_suffix(".stamp.json")
    stamp.unlink(missing_ok=True)
    os.environ["MMDL_PROGRESS"] = "0"  # the kernel inherits it: no progress bars in executed pages
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # nor transformers' "Loading weights" widgets
    try:
        papermill.execute_notebook(
            str(notebook), str(out), parameters=parameters, cwd=str(root), kernel_name="python3",
            progress_bar=False, stderr_file=sys.stderr,
        )
    except PapermillExecutionError as e:
        source = "\n".join("    " + line for line in (e.source or "").splitlines()[-15:])
        raise NotebookFailed(
            f"{notebook.name} failed in cell {e.cell_index} (execution count {e.exec_count}): "
            f"{e.ename}: {e.evalue}\n  cell source:\n{source}\n  partial output notebook: {out}"
        ) from None
    hide_injected_parameters(out)
    write_json(stamp, {"key": run_key(notebook, parameters), "parameters": parameters})
    return Execution(notebook, out, skipped=False)


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: the site opens with the chapter's
    title, and the run's parameters are in its record."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    atomic_write(path, lambda tmp: nbformat.write(nb, tmp))
