"""``mmdl book``: write ``_toc.yml`` from the chapter registry, execute every chapter (skipping
unchanged ones) and build the site."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import MMDLError
from ..paths import project_root
from .chapters import write_toc
from .notebooks import execute, resolve_notebook, toc_notebooks
from .results import write_results_chapter


def jupyter_book_command() -> list[str]:
    local = Path(sys.executable).parent / "jupyter-book"
    found = str(local) if local.exists() else shutil.which("jupyter-book")
    if not found:
        raise MMDLError("jupyter-book is not installed: pip install -e '.[book]'")
    return [found]


def build_site(profile: str = "smoke", root: Path | None = None, force: bool = False, log=print) -> Path:
    root = root or project_root()
    write_toc(root)
    for stem in toc_notebooks(root):
        notebook = resolve_notebook(stem, root)
        started = time.perf_counter()
        result = execute(notebook, {"profile": profile}, root=root, force=force)
        state = "unchanged, kept" if result.skipped else f"executed in {time.perf_counter() - started:.0f} s"
        log(f"{notebook.stem}: {state} -> {result.output.relative_to(root)}")
    write_results_chapter(root / "book" / "results.md", profile=profile, root=root)
    command = jupyter_book_command() + ["build", str(root), "--warningiserror", "--keep-going", "--quiet"]
    done = subprocess.run(command, cwd=root)
    if done.returncode != 0:
        raise MMDLError(f"jupyter-book build failed (exit {done.returncode}); see the warnings above")
    index = root / "_build" / "html" / "index.html"
    log(f"site: {index}")
    return index
