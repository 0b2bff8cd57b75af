"""CI's notebook execution: every chapter runs with papermill (smoke) and the site builds offline."""

import time
from pathlib import Path

import pytest

from mmdl_lib.book.notebooks import toc_notebooks
from mmdl_lib.book.site import build_site
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
def test_second_build_reexecutes_nothing_and_is_fast():
    log: list[str] = []
    started = time.perf_counter()
    build_site(profile="smoke", root=ROOT, log=log.append)
    assert time.perf_counter() - started < 60
    chapters = [line for line in log if not line.startswith("site:")]
    assert chapters and all("unchanged, kept" in line for line in chapters), chapters


@pytest.mark.notebooks
def test_the_executed_chapters_meet_their_bars():
    """What each chapter's issue asks of its smoke run, read from the run records the build wrote."""
    build_site(profile="smoke", root=ROOT)  # executes nothing when the first test already did
    records = {stage: record["metrics"] for stage, (_, record) in latest_records(profile="smoke").items()}
    kd = records["clip_kd"]
    assert kd["students"]["all three"]["t2r_R@5"] > 2 * kd["chance"]["t2r_R@5"]
    val = records["talk2car"]["val"]
    main = next(v for k, v in val.items() if k.startswith("transformer head"))
    assert main["ap50"] >= 2 * records["talk2car"]["best_trivial_ap50"]
    assert main["ap50"] > val["projection head"]["ap50"]
