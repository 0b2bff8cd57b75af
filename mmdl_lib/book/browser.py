"""The built site as its readers see it: every page opened in headless Chromium (the book test).

:func:`check_site` loads each page of ``_build/html`` from disk, waits for its scripts, and reports
per page what a reader would notice: JavaScript errors, images that did not load, interactive
(plotly) figures that did not render, a page that does not open with its title, and warning,
traceback or machine-path text in a cell's output. A screenshot of every page goes to a folder for
a reviewer. Chromium and its driver come from Debian (``chromium``, ``chromium-driver``; the install
script adds them); ``MMDL_CHROMIUM`` / ``MMDL_CHROMEDRIVER`` point elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from ..errors import MMDLError
from ..paths import cache_dir, data_dir, project_root, results_dir

# Text in a cell's output that a page must not carry.
OUTPUT_PROBLEMS = (
    (re.compile(r"Traceback \(most recent call last\)"), "a traceback"),
    (re.compile(r"\b[A-Z]\w*(Warning|Error)\b:"), "a warning or error"),
    (re.compile(r"warnings\.warn\("), "a warning"),
    (re.compile(r"^\s*(\[[\w ]+\] )?WARNING\b", re.M), "a warning"),
    (re.compile(r"\[Open3D (INFO|WARNING)\]"), "Open3D's log"),
    (re.compile(r"^[WE]\d{4} \d\d:\d\d:\d\d", re.M), "a logged warning"),  # torch's glog-style lines
)

# A page still parsing may have no body yet (driver.get can return that early): report it as not ready.
_PAGE_STATE = """
const article = document.querySelector('article') || document.body;
if (!article) return {title: null, titleFirst: false, broken: [], plots: 0, unrendered: 0, outputs: [],
                      ready: 'no body yet'};
const h1 = article.querySelector('h1');
const firstCell = article.querySelector('div.cell');
const titleFirst = !!h1 && (!firstCell || !!(h1.compareDocumentPosition(firstCell) & Node.DOCUMENT_POSITION_FOLLOWING));
const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
const plots = [...document.querySelectorAll('.js-plotly-plot, .plotly-graph-div')];
const unrendered = plots.filter(p => !p.querySelector('.main-svg')).length;
const outputs = [...article.querySelectorAll('.cell_output, .output')].map(e => e.innerText);
return {title: h1 ? h1.innerText : null, titleFirst, broken, plots: plots.length, unrendered, outputs,
        ready: document.readyState};
"""


def _find(env: str, names: tuple[str, ...]) -> str:
    explicit = os.environ.get(env)
    found = explicit or next((p for p in map(shutil.which, names) if p), None)
    if not found or not Path(found).exists():
        raise MMDLError(f"{names[0]} not found (set {env}, or on Debian: apt-get install chromium chromium-driver; "
                        "scripts/install.sh does it)")
    return found


def open_browser(width: int = 1280, height: int = 1400):
    """A headless Chromium driven by selenium, with the browser console captured."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find("MMDL_CHROMIUM", ("chromium", "chromium-browser", "google-chrome"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(_find("MMDL_CHROMEDRIVER", ("chromedriver",))), options=options)


def machine_paths() -> list[str]:
    """Absolute paths of this machine that a page must never show."""
    places = {str(p) for p in (project_root(), results_dir(), cache_dir(), data_dir(), Path.home())}
    return sorted((p for p in places if len(p) > 1), key=len, reverse=True)


def output_problems(text: str, paths: list[str] | None = None) -> list[str]:
    """What is wrong with one cell output's text: warning or traceback text, a machine path."""
    found = [f"{what}: {m.group(0).strip()!r}" for pattern, what in OUTPUT_PROBLEMS for m in [pattern.search(text)] if m]
    for path in paths if paths is not None else machine_paths():
        if path in text:
            found.append(f"a machine path: {path!r}")
    return found


def check_page(driver, page: Path, screenshot: Path | None = None, settle_s: float = 10.0) -> list[str]:
    """Problems of one page (empty: fine)."""
    driver.get_log("browser")  # drop what earlier pages left
    driver.get(page.resolve().as_uri())
    deadline = time.monotonic() + settle_s
    state = driver.execute_script(_PAGE_STATE)
    while (state["ready"] != "complete" or state["unrendered"]) and time.monotonic() < deadline:
        time.sleep(0.25)
        state = driver.execute_script(_PAGE_STATE)
    problems = [f"JavaScript: {entry['message']}" for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    if state["ready"] != "complete":
        problems.append(f"the page did not finish loading in {settle_s:.0f} s ({state['ready']})")
    problems += [f"image did not load: {src}" for src in state["broken"]]
    if state["unrendered"]:
        problems.append(f"{state['unrendered']} of {state['plots']} interactive figures did not render")
    if not state["title"]:
        problems.append("no title (h1)")
    elif not state["titleFirst"]:
        problems.append(f"code or output comes before the title {state['title']!r}")
    paths = machine_paths()
    for i, text in enumerate(state["outputs"]):
        problems += [f"output {i}: {p}" for p in output_problems(text, paths)]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    return problems


def site_pages(html: Path) -> list[Path]:
    """The book's own pages (not Sphinx's search and index pages)."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(p for p in html.rglob("*.html")
                  if p.name not in skip and not any(part.startswith("_") for part in p.relative_to(html).parts))


def check_site(html: Path, screenshots: Path | None = None) -> dict[str, list[str]]:
    """Open every page of the built site; page (relative path) → its problems. Screenshots, when
    asked for, are ``<screenshots>/<page path with / as __>.png``."""
    pages = site_pages(html)
    if not pages:
        raise MMDLError(f"{html}: no built pages (run `mmdl book` first)")
    driver = open_browser()
    try:
        report = {}
        for page in pages:
            name = str(page.relative_to(html))
            shot = screenshots / (name.removesuffix(".html").replace("/", "__") + ".png") if screenshots else None
            report[name] = check_page(driver, page, shot)
        return report
    finally:
        driver.quit()
