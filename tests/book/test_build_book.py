"""CI's notebook execution: every chapter runs with papermill (smoke) and the site builds offline."""

import json
import time
from pathlib import Path

import pytest

from mmdl_lib.book.browser import check_site
from mmdl_lib.book.chapters import chapters
from mmdl_lib.book.notebooks import toc_notebooks
from mmdl_lib.book.site import build_site
from mmdl_lib.metrics.uncertainty import Comparison
from mmdl_lib.records import latest_records

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
def test_every_page_reads_cleanly_in_a_browser():
    """Each page opened in headless Chromium: no JavaScript error, every image and interactive figure
    rendered, the title first, no warning, traceback or machine path in an output. Screenshots of
    every page go to _build/screenshots for a reviewer."""
    build_site(profile="smoke", root=ROOT, log=lambda _: None)  # executes nothing after the first test
    shots = ROOT / "_build" / "screenshots"
    report = check_site(ROOT / "_build" / "html", shots)
    chapters_ = {f"build/executed/{c.stem}.html" for c in chapters(ROOT)}
    assert chapters_ <= set(report) and "book/results.html" in report
    assert not {page: problems for page, problems in report.items() if problems}
    assert all((shots / (page.removesuffix(".html").replace("/", "__") + ".png")).is_file() for page in report)


@pytest.mark.notebooks
def test_second_build_reexecutes_nothing_and_is_fast():
    log: list[str] = []
    started = time.perf_counter()
    build_site(profile="smoke", root=ROOT, log=log.append)
    assert time.perf_counter() - started < 60
    chapters = [line for line in log if not line.startswith("site:")]
    assert chapters and all("unchanged, kept" in line for line in chapters), chapters


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", chapters(ROOT), ids=lambda c: c.stem)
def test_the_executed_chapter_meets_its_bar(chapter):
    """What each chapter's issue asks of its smoke run (its stage's ``smoke_checks``), read from
    the run record the build wrote."""
    build_site(profile="smoke", root=ROOT, log=lambda _: None)  # executes nothing when the first test already did
    records = latest_records(profile="smoke")
    assert chapter.stage in records, f"{chapter.stem} wrote no run record for stage {chapter.stage!r}"
    checks = chapter.smoke_checks()(records[chapter.stage][1]["metrics"])
    assert checks and all(checks.values()), {name: ok for name, ok in checks.items() if not ok}


def _markdown_outputs(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(output.get("data", {}).get("text/markdown", ""))
                     for cell in cells for output in cell.get("outputs", []))


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", [c for c in chapters(ROOT) if c.stage != "synthetic_world"], ids=lambda c: c.stem)
def test_every_comparison_carries_its_interval_and_the_page_prints_its_verdict(chapter):
    """#31: each method comparison is in the record with the interval of its difference, and the
    executed chapter prints the verdict computed from exactly those numbers."""
    build_site(profile="smoke", root=ROOT, log=lambda _: None)
    recorded = latest_records(profile="smoke")[chapter.stage][1]["metrics"].get("comparisons")
    assert recorded, f"{chapter.stem}: the record has no comparisons"
    printed = _markdown_outputs(ROOT / "build" / "executed" / f"{chapter.stem}.ipynb")
    for key, entry in recorded.items():
        comparison = Comparison.from_dict(entry)
        assert comparison.low <= comparison.high, key
        assert comparison.verdict() == entry["verdict"], f"{key}: the recorded verdict is not its numbers'"
        assert comparison.verdict() in printed, f"{chapter.stem}: the verdict of {key!r} is not on the page"
