"""The site checker (mmdl_lib/book/browser.py) on hand-made pages, in headless Chromium."""

import pytest

from mmdl_lib.book.browser import check_page, check_site, open_browser, output_problems

GOOD = """<html><body><article><h1>01 · A chapter</h1><p>Why it matters.</p>
<div class="cell"><div class="cell_output"><pre>accuracy 0.93</pre></div></div>
<img src="dot.png"></article></body></html>"""
BAD = """<html><body><article><div class="cell"><div class="cell_output">
<pre>/site-packages/x.py:3: UserWarning: deprecated
Traceback (most recent call last):</pre></div></div><h1>Late title</h1>
<img src="missing.png"><script>undefinedFunction();</script></article></body></html>"""
# a 1×1 PNG
DOT = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf000000030101009b5b2b5b0000000049454e44ae426082")


@pytest.mark.parametrize("text, found", [
    ("accuracy 0.93\nR@5 0.81", []),
    ("/x/y.py:55: FutureWarning: renamed", ["a warning or error"]),
    ("Traceback (most recent call last):", ["a traceback"]),
    ("[Open3D INFO] WebRTC GUI backend enabled.", ["Open3D's log"]),
    ("W1123 23:58:50.477000 17978 torch/fx/_symbolic_trace.py:57] is_fx_tracing will", ["a logged warning"]),
    ("run record: /home/alice/book/results/x/record.json", ["a machine path"]),
    ("a warning-free run; the word Warning alone is prose", []),
])
def test_output_problems(text, found):
    problems = output_problems(text, paths=["/home/alice/book"])
    assert [p.split(":")[0] for p in problems] == found


@pytest.fixture(scope="module")
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


def test_a_clean_page_passes_and_is_photographed(tmp_path, browser):
    (tmp_path / "dot.png").write_bytes(DOT)
    (tmp_path / "good.html").write_text(GOOD)
    shot = tmp_path / "shots" / "good.png"
    assert check_page(browser, tmp_path / "good.html", shot) == []
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_a_broken_page_reports_each_problem(tmp_path, browser):
    (tmp_path / "bad.html").write_text(BAD)
    problems = "\n".join(check_page(browser, tmp_path / "bad.html", settle_s=1))
    for expected in ("JavaScript:", "image did not load: missing.png", "before the title 'Late title'",
                     "UserWarning", "a traceback"):
        assert expected in problems, problems


def test_an_unrendered_interactive_figure_is_reported(tmp_path, browser):
    (tmp_path / "plot.html").write_text('<html><body><article><h1>T</h1>'
                                        '<div class="plotly-graph-div"></div></article></body></html>')
    assert "1 of 1 interactive figures did not render" in check_page(browser, tmp_path / "plot.html", settle_s=1)


def test_a_page_without_a_body_is_reported_not_crashed(tmp_path, browser):
    # CI once ran the page script before the body existed: "Cannot read properties of null".
    (tmp_path / "bodiless.html").write_text("<html><body><script>document.documentElement.removeChild(document.body);"
                                            "</script></body></html>")
    problems = check_page(browser, tmp_path / "bodiless.html", settle_s=1)
    assert any("did not finish loading" in p for p in problems), problems


def test_the_site_check_skips_sphinx_pages_and_needs_pages(tmp_path):
    from mmdl_lib.errors import MMDLError

    with pytest.raises(MMDLError, match="no built pages"):
        check_site(tmp_path)
