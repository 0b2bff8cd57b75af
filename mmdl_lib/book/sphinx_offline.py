"""A Sphinx extension for the book's site (listed in ``_config.yml``): pages that work offline and
load without JavaScript errors.

- Jupyter Book 1 with Sphinx 7 adds sphinx-thebe's and sphinx-togglebutton's inline scripts twice
  to every page (once with ``filename`` None, once with ""); the second ``const THEBE_JS_URL`` is a
  SyntaxError in the browser. Each script is kept once.
"""

from __future__ import annotations

from typing import Any


def _script_key(script: Any) -> tuple:
    """The same script whether its ``filename`` is None or "" (how the two copies differ)."""
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))


def keep_each_script_once(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", keep_each_script_once)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
