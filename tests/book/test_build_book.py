"""CI's notebook execution: every chapter runs with papermill (smoke) and the site builds offline."""

import time
from pathlib import Path

import pytest

from mmdl_lib.book.notebooks import toc_notebooks
from mmdl_lib.book.site import build_site

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.notebooks
def test_every_chapter_executes_and_the_site_builds():
    index = build_site(profile="smoke", root=ROOT)
    assert index.is_file()
    for stem in toc_notebooks(ROOT):
        page = (ROOT / "_build" / "html" / "build" / "executed" / f"{stem}.html").read_text()
        assert "<img" in page, f"{stem}: no figure on the page"
        assert "Traceback" not in page
    results = (ROOT / "_build" / "html" / "book" / "results.html").read_text()
    assert "Profile <strong>smoke</strong>" in results


@pytest.mark.notebooks
def test_second_build_reexecutes_nothing_and_is_fast():
    log: list[str] = []
    started = time.perf_counter()
    build_site(profile="smoke", root=ROOT, log=log.append)
    assert time.perf_counter() - started < 60
    chapters = [line for line in log if not line.startswith("site:")]
    assert chapters and all("unchanged, kept" in line for line in chapters), chapters
